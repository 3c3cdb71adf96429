// The model of property 4: sequences of valid and invalid operations by an
// admin and two members. The model predicts every status code and
// representation; after each sequence every row of every table equals it
// (all columns; timestamps of untouched rows unchanged).
import { ModelCore } from './model-core'
import type { Op } from './model-ops'
import { get, listChildren, listOrgs } from './model-reads'
import {
  createContact, createInteraction, createOpp, createOrg, createUser, deleteContact, deleteOrg, patchContact, patchOpp, patchOrg, patchUser
} from './model-writes'

export { opArb } from './model-ops'

export class Model extends ModelCore {
  /** Runs one operation, checks its status and answer against the model, and applies a success to it. */
  async exec (op: Op): Promise<number> {
    switch (op.kind) {
      case 'createOrg': return await createOrg(this, op)
      case 'patchOrg': return await patchOrg(this, op)
      case 'deleteOrg': return await deleteOrg(this, op)
      case 'createContact': return await createContact(this, op)
      case 'patchContact': return await patchContact(this, op)
      case 'deleteContact': return await deleteContact(this, op)
      case 'createInteraction': return await createInteraction(this, op)
      case 'createOpp': return await createOpp(this, op)
      case 'patchOpp': return await patchOpp(this, op)
      case 'createUser': return await createUser(this, op)
      case 'patchUser': return await patchUser(this, op)
      case 'get': return await get(this, op)
      case 'listOrgs': return await listOrgs(this, op)
      case 'listChildren': return await listChildren(this, op)
    }
  }
}
