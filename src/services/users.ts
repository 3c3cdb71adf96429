// Users: the caller's own record, and administration of accounts.
import type { PrismaClient, Prisma } from '../../generated/prisma/client'
import type { Caller, Role } from '../lib/caller'
import { ConflictError, NotFoundError } from '../lib/http-errors'
import type { Page } from '../schemas/common'
import type { User, UserCreate, UserUpdate } from '../schemas/users'
import { change, written, type Written } from './changes'
import { paginate } from './scope'

function toUser (row: Prisma.UserGetPayload<Record<string, never>>): User {
  return { id: row.id, email: row.email, name: row.name, role: row.role as Role, isActive: row.isActive, createdAt: row.createdAt, updatedAt: row.updatedAt }
}

function isUniqueViolation (err: unknown): boolean {
  return (err as { code?: string }).code === 'P2002'
}

export class UserService {
  constructor (private readonly prisma: PrismaClient) {}

  async get (id: string): Promise<User> {
    const row = await this.prisma.user.findUnique({ where: { id } })
    if (row === null) throw new NotFoundError('User')
    return toUser(row)
  }

  /** The user behind a token as authentication needs them: only an active user is a caller. */
  async findCaller (id: string): Promise<Caller | undefined> {
    const user = await this.prisma.user.findUnique({ where: { id }, select: { id: true, email: true, name: true, role: true, isActive: true } })
    if (user === null || !user.isActive) return undefined
    return { id: user.id, email: user.email, name: user.name, role: user.role as Role }
  }

  async list (limit: number, offset: number): Promise<{ data: User[]; page: Page }> {
    const rows = await this.prisma.user.findMany({ orderBy: [{ createdAt: 'asc' }, { id: 'asc' }], take: limit + 1, skip: offset })
    return paginate(rows.map(toUser), limit, offset)
  }

  async create (input: UserCreate): Promise<Written<User>> {
    try {
      const created = toUser(await this.prisma.user.create({ data: input }))
      return written(created, change('user', 'create', created.id, [created.id]))
    } catch (err) {
      if (isUniqueViolation(err)) throw new ConflictError('A user with this email already exists')
      throw err
    }
  }

  /** An admin cannot demote or deactivate themselves, so the service never loses its last way in by accident. */
  async update (caller: Caller, id: string, input: UserUpdate): Promise<Written<User>> {
    // UUIDs compare case-insensitively (PostgreSQL accepts either case): compare canonical forms.
    if (id.toLowerCase() === caller.id.toLowerCase() && (input.isActive === false || (input.role !== undefined && input.role !== 'admin'))) {
      throw new ConflictError('You cannot deactivate or demote your own account')
    }
    try {
      const { count } = await this.prisma.user.updateMany({ where: { id }, data: input })
      if (count === 0) throw new NotFoundError('User')
    } catch (err) {
      if (isUniqueViolation(err)) throw new ConflictError('A user with this email already exists')
      throw err
    }
    const updated = await this.get(id)
    return written(updated, change('user', 'update', updated.id, [updated.id]))
  }
}
