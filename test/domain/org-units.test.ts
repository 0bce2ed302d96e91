import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { insertOrgUnit } from '../../src/db/queries/org-units.ts';
import type { OrgUnit } from '../../src/db/schema.ts';
import { noOrigin } from '../../src/domain/audit.ts';
import type { AdminContext } from '../../src/domain/authorization.ts';
import { updateOrgUnit } from '../../src/domain/org-units.ts';
import { createUser } from '../../src/domain/users.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';

let database: TestDatabase;
let province: OrgUnit;

/** A super administrator acting through the domain, as the API would after authentication. */
const superAdmin: AdminContext = {
  principal: {
    actor: { type: 'user', id: null, name: 'quantri' },
    holder: { userId: '00000000-0000-4000-8000-000000000001' },
    assignments: [{ id: 'a', role: 'super_admin', org_unit_id: null, org_unit_path: null }],
  },
  origin: noOrigin,
};

beforeAll(async () => {
  database = await createTestDatabase();
  province = await insertOrgUnit(database.db, { code: 'TG', name: 'Ủy ban nhân dân tỉnh Tiền Giang', kind: 'province', parent: null });
});

afterAll(async () => {
  await database.close();
});

const unit = (code: string, parent: OrgUnit, kind: OrgUnit['kind'] = 'unit') => insertOrgUnit(database.db, { code, name: code, kind, parent });

/** Every unit's path is its parent's path and its own id, and its depth one more than its parent's. */
async function treeIsConsistent(): Promise<boolean> {
  const units = await database.db.selectFrom('org_units').selectAll().execute();
  const byId = new Map(units.map((row) => [row.id, row]));
  return units.every((row) => {
    const parent = row.parent_id === null ? null : byId.get(row.parent_id);
    return parent === null ? row.path === `/${row.id}/` && row.depth === 0 : parent !== undefined && row.path === `${parent.path}${row.id}/` && row.depth === parent.depth + 1;
  });
}

describe('changing the shape of the org tree at the same moment', () => {
  it('keeps every path consistent when a unit moves while the unit it moves under moves too', async () => {
    for (let round = 0; round < 5; round += 1) {
      const caiBe = await unit(`CB${round}`, province, 'district');
      const choGao = await unit(`CG${round}`, province, 'district');
      const commune = await unit(`CB${round}.X`, caiBe, 'commune');
      const office = await unit(`CB${round}.VP`, caiBe, 'office');
      await Promise.all([
        updateOrgUnit({ db: database.db }, superAdmin, commune.id, undefined, { parent_id: choGao.id }),
        updateOrgUnit({ db: database.db }, superAdmin, office.id, undefined, { parent_id: commune.id }),
      ]);
      expect(await treeIsConsistent()).toBe(true);
    }
  });

  it('never leaves a person in a unit closed at the same moment they were placed in it', async () => {
    const deps = { db: database.db, masterKey: Buffer.alloc(32, 7) };
    for (let round = 0; round < 5; round += 1) {
      const commune = await unit(`AH${round}`, province, 'commune');
      const results = await Promise.allSettled([
        createUser(deps, superAdmin, { full_name: `Nguyễn Văn Mới ${round}`, org_unit_id: commune.id }),
        updateOrgUnit({ db: database.db }, superAdmin, commune.id, undefined, { status: 'closed' }),
      ]);
      const stored = await database.db.selectFrom('org_units').select('status').where('id', '=', commune.id).executeTakeFirstOrThrow();
      const people = await database.db.selectFrom('users').select('id').where('primary_org_unit_id', '=', commune.id).execute();
      // One of them wins: either the person is there and the unit stays open, or it closed and nobody is in it.
      expect(stored.status === 'closed' ? people.length : 1).toBe(stored.status === 'closed' ? 0 : people.length);
      expect(results.filter((result) => result.status === 'fulfilled').length).toBeGreaterThanOrEqual(1);
    }
  });
});
