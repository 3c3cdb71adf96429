// The soak's workers: one closed loop each, as one user, with the rows it may
// read and the rows only it writes (so writes never race and no read ever
// meets a row someone else deleted).
import type { ListSpec } from '../lib/list-spec'
import { prng } from '../lib/stats'
import type { HttpClient } from './http-client'
import type { SoakOptions } from './options'
import type { Recorder } from './recorder'

export interface User { id: string; email: string; role: 'admin' | 'member'; token: string }

export interface OwnedRef { id: string; orgId: string }
export interface OppRef extends OwnedRef { etag: string; stage: string }

export interface Worker {
  index: number
  user: User
  random: () => number
  /** Organizations only this worker writes to (and their children). */
  writable: string[]
  /** Organizations it may read (every one its user can see, as seeded). */
  readable: string[]
  contacts: string[]
  opportunities: string[]
  /** What it created (newest last, the last 50 kept), the only rows it may delete. */
  createdOrgs: string[]
  createdContacts: OwnedRef[]
  createdOpps: OppRef[]
  counter: number
}

export interface Context {
  http: HttpClient
  recorder: Recorder
  specs: Map<string, ListSpec>
  members: User[]
  orgTotal: number
  stopAt: number
  stopped: boolean
}

const KEEP = 50
export const keep = <T>(list: T[], item: T): void => { list.push(item); if (list.length > KEEP) list.shift() }
export const pick = <T>(w: Worker, list: readonly T[]): T => list[Math.floor(w.random() * list.length)]!

export interface MemberData { orgs: string[]; contacts: string[]; opportunities: string[]; spec: ListSpec }

/**
 * Workers round-robin over the users (admin first). Each seeded organization
 * is written by exactly one worker that can see it: one of its owner's
 * workers or an admin worker, in turn.
 */
export function makeWorkers (opts: SoakOptions, admin: User, members: User[], data: Map<string, MemberData>): Worker[] {
  const users = [admin, ...members]
  const workers: Worker[] = []
  for (let i = 0; i < opts.connections; i++) {
    const user = users[i % users.length]!
    const own = user.role === 'member' ? data.get(user.id)! : undefined
    const all = [...data.values()]
    workers.push({
      index: i,
      user,
      random: prng(1000 + i),
      writable: [],
      readable: own?.orgs ?? all.flatMap((d) => d.orgs),
      contacts: own?.contacts ?? all.flatMap((d) => d.contacts),
      opportunities: own?.opportunities ?? all.flatMap((d) => d.opportunities),
      createdOrgs: [],
      createdContacts: [],
      createdOpps: [],
      counter: 0
    })
  }
  const adminWorkers = workers.filter((w) => w.user.role === 'admin')
  for (const member of members) {
    const candidates = [...workers.filter((w) => w.user.id === member.id), ...adminWorkers]
    if (candidates.length === 0) continue
    data.get(member.id)!.orgs.forEach((orgId, i) => candidates[i % candidates.length]!.writable.push(orgId))
  }
  return workers
}
