import { describe, expect, it } from 'vitest';

import { applyPatch, canonicalize, readPatchOperations, type JsonObject } from '../../../src/domain/scim/patch.ts';
import { resourceTypes } from '../../../src/domain/scim/schemas.ts';
import { splitFullName, joinNameParts } from '../../../src/domain/vietnamese-names.ts';
import { scimRefusal as refusal } from '../../support/scim.ts';

/** PATCH applied in memory to resources as clients read them (RFC 7644 §3.5.2), and the name split SCIM shows. */

const enterprise = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const user: JsonObject = {
  id: 'u1', userName: 'tuyetnta', name: { formatted: 'Nguyễn Thị Ánh Tuyết', familyName: 'Nguyễn', givenName: 'Tuyết' }, active: true,
  emails: [{ value: 'tuyet@example.vn', type: 'work', primary: true }], [enterprise]: { employeeNumber: 'CB-1' }, meta: { version: 'W/"1"' },
};
const group: JsonObject = { id: 'g1', displayName: 'Tổ công tác', members: [{ value: 'a', display: 'A' }, { value: 'b', display: 'B' }] };

const ops = (...operations: unknown[]) => readPatchOperations({ schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: operations });
const patchUser = (...operations: unknown[]) => applyPatch(user, resourceTypes.User, ops(...operations));
const patchGroup = (...operations: unknown[]) => applyPatch(group, resourceTypes.Group, ops(...operations));

describe('applyPatch', () => {
  it('adds to a multi-valued attribute without repeating a value already there, and leaves the original alone', () => {
    const patched = patchGroup({ op: 'add', path: 'members', value: [{ value: 'b' }, { value: 'c' }] });
    expect((patched['members'] as JsonObject[]).map((member) => member['value'])).toEqual(['a', 'b', 'c']);
    expect((group['members'] as JsonObject[])).toHaveLength(2);
  });

  it('removes by value filter, all values, or the values listed', () => {
    expect(patchGroup({ op: 'remove', path: 'members[value eq "a"]' })['members']).toEqual([{ value: 'b', display: 'B' }]);
    expect(patchGroup({ op: 'remove', path: 'members' })).not.toHaveProperty('members');
    expect(patchGroup({ op: 'remove', path: 'members', value: [{ value: 'B' }] })['members']).toEqual([{ value: 'a', display: 'A' }]);
    expect(patchGroup({ op: 'remove', path: 'members[value eq "nobody"]' })['members']).toHaveLength(2);
  });

  it('replaces a whole multi-valued attribute, a filtered value\'s sub-attribute, and merges a complex one', () => {
    expect(patchGroup({ op: 'replace', path: 'members', value: [{ value: 'z' }] })['members']).toEqual([{ value: 'z' }]);
    expect(patchUser({ op: 'replace', path: 'emails[type eq "work"].value', value: 'moi@example.vn' })['emails']).toEqual([{ value: 'moi@example.vn', type: 'work', primary: true }]);
    expect(patchUser({ op: 'replace', path: 'name', value: { givenName: 'Hoa' } })['name']).toEqual({ formatted: 'Nguyễn Thị Ánh Tuyết', familyName: 'Nguyễn', givenName: 'Hoa' });
    expect(patchUser({ op: 'replace', value: { USERNAME: 'tuyet2', [enterprise]: { employeenumber: 'CB-2' } } })).toMatchObject({ userName: 'tuyet2', [enterprise]: { employeeNumber: 'CB-2' } });
  });

  it('lets a path-less value carry back read-only attributes unchanged, and refuses changing them', () => {
    expect(patchUser({ op: 'replace', value: { id: 'u1', title: 'Bác sĩ' } })).toMatchObject({ id: 'u1', title: 'Bác sĩ' });
    expect(refusal(() => patchUser({ op: 'replace', value: { id: 'u2' } }))).toMatchObject({ scimType: 'mutability' });
    expect(refusal(() => patchUser({ op: 'add', path: 'meta.version', value: 'W/"9"' }))).toMatchObject({ scimType: 'mutability' });
    expect(refusal(() => patchGroup({ op: 'replace', path: 'members[value eq "a"].value', value: 'x' }))).toMatchObject({ scimType: 'mutability' });
  });

  it('answers targets that are not there with noTarget or invalidPath, and values of the wrong type with invalidValue', () => {
    expect(refusal(() => patchUser({ op: 'replace', path: 'emails[type eq "home"].value', value: 'x' }))).toMatchObject({ scimType: 'noTarget' });
    expect(refusal(() => patchUser({ op: 'remove' }))).toMatchObject({ scimType: 'noTarget' });
    expect(refusal(() => patchUser({ op: 'add', path: 'emails.value', value: 'x' }))).toMatchObject({ scimType: 'invalidPath' });
    expect(refusal(() => patchUser({ op: 'add', path: 'nickName', value: 'x' }))).toMatchObject({ scimType: 'invalidPath' });
    expect(refusal(() => patchUser({ op: 'replace', path: 'active', value: 'no' }))).toMatchObject({ scimType: 'invalidValue' });
    expect(refusal(() => patchUser({ op: 'replace', path: 'name', value: 'Tuyết' }))).toMatchObject({ scimType: 'invalidValue' });
  });

  it('reads operations as RFC 7644 §3.5.2 writes them, op names in any case, and refuses malformed bodies', () => {
    expect(readPatchOperations({ Operations: [{ op: 'Add', path: 'title', value: 'x' }] })).toEqual([{ op: 'add', path: 'title', value: 'x' }]);
    for (const body of [null, [], {}, { Operations: [] }, { Operations: [{ op: 'copy' }] }, { Operations: [{ op: 'add', path: 'title' }] }, { Operations: ['add'] }]) {
      expect(refusal(() => readPatchOperations(body)).status, JSON.stringify(body)).toBe(400);
    }
  });
});

describe('canonicalize', () => {
  it('writes attribute names in their canonical case, drops unknown ones, and refuses a password', () => {
    expect(canonicalize({ USERNAME: 'a', Name: { FamilyName: 'Lê' }, nickName: 'x', schemas: ['…'] }, resourceTypes.User)).toEqual({ userName: 'a', name: { familyName: 'Lê' } });
    expect(refusal(() => canonicalize({ userName: 'a', Password: 'x' }, resourceTypes.User))).toMatchObject({ scimType: 'invalidValue' });
  });
});

describe('Vietnamese names in SCIM', () => {
  it('splits family name first, given name last, middle names between; one word is a given name', () => {
    expect(splitFullName('Nguyễn Thị Ánh Tuyết')).toEqual({ familyName: 'Nguyễn', middleName: 'Thị Ánh', givenName: 'Tuyết' });
    expect(splitFullName('Võ Minh')).toEqual({ familyName: 'Võ', middleName: null, givenName: 'Minh' });
    expect(splitFullName('Hiền')).toEqual({ familyName: null, middleName: null, givenName: 'Hiền' });
    // A decomposed name (NFD, as some keyboards type it) is composed first.
    expect(splitFullName('Nguye\u0302\u0303n Va\u0306n An').familyName).toBe('Nguyễn');
    expect(joinNameParts({ familyName: 'Trần', middleName: null, givenName: 'Bình' })).toBe('Trần Bình');
  });
});
