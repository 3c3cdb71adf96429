// Errors a service throws to mean a specific HTTP answer. The error handler
// (plugins/errors.ts) turns them into the contract's error body.
export class HttpError extends Error {
  constructor (readonly statusCode: number, readonly code: string, message: string) {
    super(message)
    this.name = 'HttpError'
  }
}

/** Missing, soft-deleted or outside the caller's scope: all look the same (contract §2). */
export class NotFoundError extends HttpError {
  constructor (what: string) {
    super(404, 'NOT_FOUND', `${what} not found`)
  }
}

export class PreconditionFailedError extends HttpError {
  constructor () {
    super(412, 'PRECONDITION_FAILED', 'The resource has changed since the ETag given in If-Match')
  }
}

export class ConflictError extends HttpError {
  constructor (message: string) {
    super(409, 'CONFLICT', message)
  }
}

export class ForbiddenError extends HttpError {
  constructor (message: string) {
    super(403, 'FORBIDDEN', message)
  }
}

/** A body that is well-formed but names something that cannot be used; `field` as in validation errors. */
export class InvalidFieldError extends HttpError {
  constructor (field: string, problem: string) {
    super(400, 'VALIDATION_ERROR', `${field} ${problem}`)
  }
}

export class UnauthorizedError extends HttpError {
  constructor (message: string, code = 'UNAUTHORIZED') {
    super(401, code, message)
  }
}
