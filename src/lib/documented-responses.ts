// Statuses that whole groups of routes can answer, declared on each of them
// in one place (an onRoute hook), so the OpenAPI document lists every status
// a client can receive and the serializer knows their bodies: a route states
// only what is its own (its 2xx, 403, 404, 409, 412).
import type { RouteOptions } from 'fastify'
import type { TSchema } from 'typebox'

type Responses = Record<string, unknown>
type RouteSchema = { response?: Responses; hide?: boolean } & Record<string, unknown>

const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])

function methods (route: RouteOptions): string[] {
  return Array.isArray(route.method) ? route.method : [route.method]
}

/**
 * An onRoute hook adding `pick(route)`'s responses to every documented route
 * it sees; statuses the route declares itself win. The schema object is
 * replaced, never mutated: routes may share their schema objects.
 */
export function declareResponses (pick: (route: RouteOptions) => Responses): (route: RouteOptions) => void {
  return (route) => {
    const schema = route.schema as RouteSchema | undefined
    if (schema === undefined || schema.hide === true) return
    const added = pick(route)
    if (Object.keys(added).length === 0) return
    route.schema = { ...schema, response: { ...added, ...schema.response } }
  }
}

/**
 * What any route can answer: a malformed URL or request (400), a request not
 * received in time (408), headers over 16 KiB (431), a fault (500), closing
 * or overloaded (503); with a body, 413 and 415.
 */
export function anyRouteErrors (error: TSchema): (route: RouteOptions) => Responses {
  return (route) => ({
    400: error,
    408: error,
    431: error,
    500: error,
    503: error,
    ...(methods(route).some((m) => BODY_METHODS.has(m)) ? { 413: error, 415: error } : {})
  })
}

/** What an authenticated, rate-limited, cached route adds: 401, 429, and 304 on cached GETs. */
export function apiRouteErrors (error: TSchema): (route: RouteOptions) => Responses {
  return (route) => ({
    401: error,
    429: error,
    ...(methods(route).includes('GET') && route.config?.cache !== false
      ? { 304: { type: 'null', description: 'Not Modified: the ETag given in If-None-Match is current' } }
      : {})
  })
}
