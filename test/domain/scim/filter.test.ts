import { describe, expect, it } from 'vitest';

import { parseFilter, parsePatchPath, type Filter } from '../../../src/domain/scim/filter.ts';
import { resolveGroupFilter, resolveSortAttribute, resolveUserFilter } from '../../../src/domain/scim/resolved-filter.ts';
import { scimRefusal as refusal } from '../../support/scim.ts';

const path = (attribute: string, subAttribute: string | null = null, schema: string | null = null) => ({ schema, attribute, subAttribute });
const enterprise = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';

describe('parseFilter (RFC 7644 §3.4.2.2)', () => {
  it('reads the RFC\'s example filters', () => {
    expect(parseFilter('userName eq "bjensen"')).toEqual({ kind: 'compare', path: path('userName'), operator: 'eq', value: 'bjensen' });
    expect(parseFilter('name.familyName co "O\'Malley"')).toEqual({ kind: 'compare', path: path('name', 'familyName'), operator: 'co', value: 'O\'Malley' });
    expect(parseFilter('title pr')).toEqual({ kind: 'present', path: path('title') });
    expect(parseFilter(`${enterprise}:employeeNumber sw "AH"`)).toEqual({ kind: 'compare', path: path('employeeNumber', null, enterprise), operator: 'sw', value: 'AH' });
    expect(parseFilter('urn:ietf:params:scim:schemas:core:2.0:User:name.givenName eq "Tuyết"')).toMatchObject({ path: path('name', 'givenName', 'urn:ietf:params:scim:schemas:core:2.0:User') });
    expect(parseFilter('emails[type eq "work" and value co "@example.com"]')).toEqual({
      kind: 'valuePath', path: path('emails'),
      filter: { kind: 'and', left: { kind: 'compare', path: path('type'), operator: 'eq', value: 'work' }, right: { kind: 'compare', path: path('value'), operator: 'co', value: '@example.com' } },
    });
  });

  it('binds not tighter than and, and and tighter than or; parentheses group', () => {
    const a: Filter = { kind: 'compare', path: path('a'), operator: 'eq', value: 1 };
    const b: Filter = { kind: 'compare', path: path('b'), operator: 'eq', value: true };
    const c: Filter = { kind: 'compare', path: path('c'), operator: 'eq', value: null };
    expect(parseFilter('a eq 1 or b eq true and c eq null')).toEqual({ kind: 'or', left: a, right: { kind: 'and', left: b, right: c } });
    expect(parseFilter('(a eq 1 or b eq true) and c eq null')).toEqual({ kind: 'and', left: { kind: 'or', left: a, right: b }, right: c });
    expect(parseFilter('not (a eq 1) and b eq true')).toEqual({ kind: 'and', left: { kind: 'not', filter: a }, right: b });
    expect(parseFilter('a eq 1 or b eq true or c eq null')).toEqual({ kind: 'or', left: { kind: 'or', left: a, right: b }, right: c });
  });

  it('reads keywords and operators without regard to case, and strings with JSON escapes', () => {
    expect(parseFilter('userName EQ "a" AND NOT (active Eq FALSE)')).toMatchObject({ kind: 'and', right: { kind: 'not', filter: { operator: 'eq', value: false } } });
    expect(parseFilter('displayName eq "Ngh\\u0129a \\"Út\\""')).toMatchObject({ value: 'Nghĩa "Út"' });
    expect(parseFilter('meta.created gt "2026-11-27T00:00:00Z"')).toMatchObject({ operator: 'gt', value: '2026-11-27T00:00:00Z' });
  });

  it.each([
    ['', 'empty'],
    ['userName', 'expected an operator'],
    ['userName eq', 'expected a value'],
    ['userName eq bjensen', 'expected a value'],
    ['userName xx "a"', 'not a SCIM operator'],
    ['(userName eq "a"', 'expected ")"'],
    ['userName eq "a" or', 'expected an attribute'],
    ['userName eq "a" "b"', 'join expressions'],
    ['emails[type eq "work"', 'expected "]"'],
    ['a.b.c eq "x"', 'not an attribute path'],
    ['1abc eq "x"', 'not an attribute path'],
    ['userName eq "\\u0000"', 'NUL'],
    ['userName eq "tab\there"', 'not closed'],
    ['userName eq "a" & b eq "c"', 'unexpected character'],
  ])('refuses %j as invalidFilter (%s)', (filter, says) => {
    const error = refusal(() => parseFilter(filter));
    expect(error).toMatchObject({ status: 400, scimType: 'invalidFilter' });
    expect(error.message).toContain(says);
  });

  it('refuses nesting deep enough to threaten the stack, and filters too long to be real', () => {
    expect(refusal(() => parseFilter(`${'not ('.repeat(100)}a eq 1${')'.repeat(100)}`)).message).toContain('nest at most');
    expect(refusal(() => parseFilter(`a eq "${'x'.repeat(4000)}"`)).message).toContain('at most 4000');
  });
});

describe('parsePatchPath (RFC 7644 §3.5.2)', () => {
  it('reads attributes, sub-attributes, value filters and a sub-attribute after one', () => {
    expect(parsePatchPath('members')).toEqual({ path: path('members'), valueFilter: null, subAttribute: null });
    expect(parsePatchPath('name.familyName')).toEqual({ path: path('name', 'familyName'), valueFilter: null, subAttribute: null });
    expect(parsePatchPath('members[value eq "2819c223-7f76-453a-919d-413861904646"]')).toMatchObject({ path: path('members'), valueFilter: { kind: 'compare', value: '2819c223-7f76-453a-919d-413861904646' } });
    expect(parsePatchPath('emails[type eq "work"].value')).toMatchObject({ path: path('emails'), subAttribute: 'value' });
    expect(parsePatchPath(`${enterprise}:employeeNumber`)).toMatchObject({ path: path('employeeNumber', null, enterprise) });
  });

  it.each(['', 'emails[type eq "work"', 'emails[type eq "work"]value', 'emails[type eq "work"].value.x', 'name.givenName[value eq "x"]', '"title"'])(
    'refuses %j as invalidPath', (text) => {
      expect(refusal(() => parsePatchPath(text))).toMatchObject({ status: 400, scimType: 'invalidPath' });
    },
  );
});

describe('resolving a filter against the schemas', () => {
  it('finds attributes without regard to case, extension attributes with or without their URN, and a complex attribute\'s value', () => {
    expect(resolveUserFilter(parseFilter('USERNAME eq "a"'))).toMatchObject({ attribute: 'userName', type: 'string', caseExact: false });
    expect(resolveUserFilter(parseFilter('employeenumber eq "a"'))).toMatchObject({ attribute: 'employeeNumber' });
    expect(resolveUserFilter(parseFilter(`${enterprise.toUpperCase()}:DEPARTMENT co "a"`))).toMatchObject({ attribute: 'department' });
    expect(resolveUserFilter(parseFilter('emails co "@"'))).toMatchObject({ attribute: 'emails.value' });
    expect(resolveUserFilter(parseFilter('emails[TYPE eq "work"]'))).toMatchObject({ kind: 'any', attribute: 'emails', filter: { attribute: 'emails.type' } });
    expect(resolveGroupFilter(parseFilter('members[value eq "x"] and displayName sw "Tổ"'))).toMatchObject({ kind: 'and', left: { kind: 'any', attribute: 'members' } });
    expect(resolveUserFilter(parseFilter('meta.created ge "2026-11-27T15:00:00+07:00"'))).toMatchObject({ type: 'dateTime', value: new Date('2026-11-27T08:00:00Z') });
  });

  it('refuses operators and values that do not fit the attribute\'s type, and attributes it does not filter on', () => {
    for (const [filter, says] of [
      ['active gt true', 'eq or ne'],
      ['active eq "true"', 'true or false'],
      ['userName eq 3', 'a "string" value'],
      ['meta.created eq "27/11/2026"', 'date and time'],
      ['meta.created sw "2026"', 'date and time'],
      ['name.middleName eq "Thị"', 'cannot use name.middleName'],
      ['nickName pr', 'no attribute nickName'],
      ['members.value eq "x"', 'no attribute members'],
      ['groups[display co "Tổ" and groups[value eq "x"]]', 'nest'],
    ] as const) {
      const error = refusal(() => resolveUserFilter(parseFilter(filter)));
      expect(error.scimType, filter).toBe('invalidFilter');
      expect(error.message, filter).toContain(says);
    }
    expect(refusal(() => resolveGroupFilter(parseFilter('userName eq "a"'))).message).toContain('Group has no attribute userName');
  });

  it('sorts by single-valued attributes only', () => {
    expect(resolveSortAttribute('name.familyname', 'User')).toBe('name.familyName');
    expect(resolveSortAttribute('displayName', 'Group')).toBe('displayName');
    expect(refusal(() => resolveSortAttribute('emails', 'User'))).toMatchObject({ scimType: 'invalidValue' });
  });
});
