// Users and tokens for API tests: rows inserted straight into the test
// database, tokens signed with the app's own secret.
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify'
import { withClient } from './database'

export interface TestUser {
  id: string
  email: string
  role: 'admin' | 'member'
  /** `{ authorization: 'Bearer …' }` */
  headers: { authorization: string }
}

let counter = 0

/** Inserts users (emails made unique per call) and signs a one-hour token for each. */
export async function createUsers (app: FastifyInstance, databaseUrl: string, roles: Array<'admin' | 'member'>): Promise<TestUser[]> {
  return await withClient(databaseUrl, async (client) => {
    const users: TestUser[] = []
    for (const role of roles) {
      const email = `${role}${counter++}.${process.pid}@example.test`
      const { rows } = await client.query<{ id: string }>('INSERT INTO users (email, name, role) VALUES ($1, $2, $3) RETURNING id', [email, `Test ${role} ${counter}`, role])
      const id = rows[0]!.id
      users.push({ id, email, role, headers: { authorization: `Bearer ${app.signToken(id)}` } })
    }
    return users
  })
}

/** app.inject as a given user. */
export async function as (app: FastifyInstance, user: TestUser, options: InjectOptions): Promise<LightMyRequestResponse> {
  return await app.inject({ ...options, headers: { ...user.headers, ...(options.headers ?? {}) } })
}
