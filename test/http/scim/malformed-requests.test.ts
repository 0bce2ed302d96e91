import { beforeAll, describe, expect, it } from 'vitest';

import { createPrng } from '../../../src/domain/vietnamese-names.ts';
import { addPerson, useProvinceServer } from '../../support/admin-api.ts';
import { expectScimError, scimApp, type ScimApp } from '../../support/scim.ts';

/**
 * Malformed filters and list parameters, answered with a SCIM error (400, the scimType saying what
 * kind of mistake), never a 500: a table of the mistakes clients make, then a few hundred filters
 * stitched together at random from the grammar's pieces, some valid and most not.
 */

const world = useProvinceServer();
let app: ScimApp;

beforeAll(async () => {
  app = await scimApp(world.server, world.superAdmin, { name: 'Cổng thông tin điện tử' });
  await addPerson(world.server, { username: 'anhnt', fullName: 'Nguyễn Tuấn Anh', unit: world.tree.anHuu, email: 'anhnt@anhuu.tiengiang.gov.vn' });
});

const list = (resource: 'Users' | 'Groups', query: string) => app.scim(`GET`, `/${resource}?${query}`);
const filtered = (resource: 'Users' | 'Groups', filter: string) => list(resource, `filter=${encodeURIComponent(filter)}`);

describe('malformed filters', () => {
  const badUserFilters: readonly [string, string][] = [
    ['userName eq', 'expected a value'],
    ['userName "bjensen"', 'expected an operator'],
    ['userName eq "unterminated', 'not closed'],
    ['userName equals "x"', 'not a SCIM operator'],
    ['(userName eq "x"', 'expected ")"'],
    ['userName eq "x")', 'unexpected'],
    ['userName eq "x" and', 'expected an attribute'],
    ['and userName eq "x"', 'not a SCIM operator'],
    ['not userName eq "x"', 'not a SCIM operator'],
    ['userName eq "x" userName eq "y"', 'join expressions'],
    ['nickName eq "Babs"', 'no attribute nickName'],
    ['userType eq "Employee"', 'no attribute userType'],
    ['name.honorificPrefix eq "Ms."', 'no attribute'],
    ['x509Certificates pr', 'no attribute'],
    ['password eq "secret"', 'no attribute password'],
    ['urn:example:schema:User:userName eq "x"', 'no attribute'],
    ['name.givenName.first eq "x"', 'not an attribute path'],
    ['active eq "yes"', 'true or false'],
    ['active gt true', 'compare it with eq or ne'],
    ['userName eq true', 'a "string" value'],
    ['userName gt 5', 'a "string" value'],
    ['meta.created gt "yesterday"', 'date and time'],
    ['meta.created gt "2026-02-30T00:00:00"', 'date and time'],
    ['meta.lastModified co "2026"', 'date and time'],
    ['userName co null', 'only eq and ne'],
    ['emails[type eq "work"', 'expected "]"'],
    ['emails[value eq "a"][type eq "work"]', 'unexpected'],
    ['userName[value eq "x"]', 'value filter'],
    ['emails[emails[value eq "x"]]', 'do not nest'],
    ['emails[userName eq "x"]', 'no attribute'],
    ['emails.value[type eq "work"]', 'multi-valued attribute'],
    ['userName eq "\\u0000"', 'NUL'],
    ['userName eq "bad \\q escape"', 'bad escape'],
    ['userName ~ "x"', 'unexpected character'],
    ['userName eq \'single\'', 'unexpected character'],
    ['meta.version eq "W/\\"1\\""', 'cannot use meta.version'],
    ['groups.$ref eq "x"', 'cannot use groups.$ref'],
    [`${'('.repeat(40)}userName eq "x"${')'.repeat(40)}`, 'nest at most'],
    [`userName eq "${'x'.repeat(5000)}"`, 'at most 4000 characters'],
  ];

  it.each(badUserFilters)('answers %j on Users with 400 invalidFilter saying what was wrong', async (filter, says) => {
    expectScimError(await filtered('Users', filter), 400, 'invalidFilter', says);
  });

  it('answers filters on attributes a Group does not have with 400 invalidFilter', async () => {
    for (const filter of ['userName eq "x"', 'members.type eq "User"', 'emails[type eq "work"]', 'displayName gt true']) {
      expectScimError(await filtered('Groups', filter), 400, 'invalidFilter');
    }
  });

  it('answers bad list parameters with 400 invalidValue or invalidFilter', async () => {
    expectScimError(await list('Users', 'sortOrder=sideways'), 400, 'invalidValue', 'sortOrder');
    expectScimError(await list('Users', 'count=many'), 400, 'invalidValue', 'count');
    expectScimError(await list('Users', 'startIndex=1.5'), 400, 'invalidValue', 'startIndex');
    expectScimError(await list('Users', 'sortBy=emails.value'), 400, 'invalidValue', 'single-valued');
    expectScimError(await list('Users', 'sortBy=nickName'), 400, 'invalidFilter', 'nickName');
    expectScimError(await list('Users', 'attributes=name..givenName'), 400, 'invalidValue', 'attribute path');
    expectScimError(await list('Users', 'filter=a&filter=b'), 400, 'invalidFilter');
  });

  it('reads a start below 1 as 1 and cuts a count above 500 to 500, as RFC 7644 §3.4.2.4 says', async () => {
    const response = await list('Users', 'startIndex=-3&count=100000');
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ startIndex: 1 });
  });

  it('answers a few hundred random filters with 200 or a SCIM 400, never a 500', async () => {
    const prng = createPrng(20261130);
    const attributes = [
      'userName', 'USERNAME', 'name.familyName', 'emails', 'emails.value', 'meta.created', 'active', 'members.value', 'displayName', 'nickName',
      'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber', 'employeeNumber', 'department', 'groups.display',
    ];
    const operators = ['eq', 'ne', 'co', 'sw', 'ew', 'gt', 'lt', 'ge', 'le', 'EQ', 'Co'];
    const values = ['"Nguyễn"', '"2026-11-27T00:00:00Z"', '"%_\\\\"', '"\'; drop table users; --"', 'true', 'false', 'null', '42', '-1e309', '""'];
    const noise = ['(', ')', '[', ']', '"', '\\', '.', ':', '$', 'and', 'or', 'not', 'pr', '\u0000', 'é'];
    /** A filter the grammar allows, then, often, broken by a token dropped, added or swapped. */
    const expression = (depth: number): string[] => {
      const roll = prng.next();
      if (depth > 2 || roll < 0.45) return prng.next() < 0.15 ? [prng.pick(attributes), 'pr'] : [prng.pick(attributes), prng.pick(operators), prng.pick(values)];
      if (roll < 0.7) return [...expression(depth + 1), prng.pick(['and', 'or', 'AND']), ...expression(depth + 1)];
      if (roll < 0.85) return ['not', '(', ...expression(depth + 1), ')'];
      return [prng.pick(['emails', 'members', 'groups']), '[', ...expression(depth + 1).map((token) => token.replace(/^(emails|members|groups)\./, '')), ']'];
    };
    const breakIt = (tokens: string[]): string[] => {
      const broken = [...tokens];
      const at = prng.int(broken.length);
      const roll = prng.next();
      if (roll < 0.33) broken.splice(at, 1);
      else if (roll < 0.66) broken.splice(at, 0, prng.pick(noise));
      else broken[at] = prng.pick(noise);
      return broken;
    };
    const statuses = new Map<number, number>();
    for (let round = 0; round < 300; round += 1) {
      const tokens = expression(0);
      const filter = (prng.next() < 0.5 ? breakIt(tokens) : tokens).join(' ');
      const resource = prng.next() < 0.7 ? 'Users' : 'Groups';
      const response = await filtered(resource, filter);
      statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
      expect([200, 400], `${resource} ${filter}: ${JSON.stringify(response.body)}`).toContain(response.status);
      if (response.status === 400) expect(response.body).toMatchObject({ schemas: ['urn:ietf:params:scim:api:messages:2.0:Error'], scimType: expect.any(String) as string });
    }
    // The generator is not so broken that nothing it makes is valid, nor so tame that nothing is refused.
    expect(statuses.get(200)).toBeGreaterThan(0);
    expect(statuses.get(400)).toBeGreaterThan(0);
  });

  it('treats SQL in a value as text to compare, and LIKE wildcards as literal characters', async () => {
    const injected = await filtered('Users', 'userName eq "x\' or 1=1 --" or displayName co "%" or displayName sw "_"');
    expect(injected.status).toBe(200);
    expect(injected.body).toMatchObject({ totalResults: 0 });
    expect((await filtered('Users', 'emails co "@anhuu.tiengiang"')).body).toMatchObject({ totalResults: 1 });
  });
});

describe('malformed bodies and headers', () => {
  const patchOp = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

  it('answers what no SCIM client should send with a SCIM 4xx, never a 500', async () => {
    const group = await app.scim<{ id: string }>('POST', '/Groups', { displayName: 'x' });
    // The portal holds no admin role: it is read-only; its malformed writes below are refused for their form first.
    expectScimError(group, 403);
    const person = (await app.scim<{ Resources: { id: string }[] }>('GET', '/Users?count=1')).body.Resources[0]!;
    const target = `/Users/${person.id}`;
    expectScimError(await app.scim('GET', '/Users/not-a-uuid'), 404);
    expectScimError(await app.scim('GET', `/Users/${person.id}%00`), 404);
    expectScimError(await app.scim('GET', '/Nothing'), 404);
    expectScimError(await app.scim('PATCH', target, { schemas: [patchOp], Operations: [{ op: 'replace', path: 'title', value: 'a\u0000b' }] }), 400, 'invalidValue', 'NUL');
    expectScimError(await app.scim('PATCH', target, '[1, 2, 3]'), 400, 'invalidSyntax');
    expectScimError(await app.scim('PATCH', target, { schemas: [patchOp], Operations: [{ op: 'remove', path: 'emails', value: JSON.parse(`${'['.repeat(3000)}${']'.repeat(3000)}`) as unknown }] }), 400, 'invalidValue');
    expectScimError(await app.scim('PUT', target, 'userName=x', { 'content-type': 'application/x-www-form-urlencoded' }), 415);
    expectScimError(await app.scim('PUT', target, { userName: 'x' }, { 'if-match': 'W/"1", W/"2"' }), 400, 'invalidValue', 'If-Match');
    expectScimError(await app.scim('POST', '/Users/.search', '"filter"'), 400, 'invalidSyntax');
    expectScimError(await app.scim('GET', '/Users?attributes=%00'), 400, 'invalidValue');
  });
});
