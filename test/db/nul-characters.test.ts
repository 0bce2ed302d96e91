import { describe, expect, it } from 'vitest';

import { findNulCharacter } from '../../src/db/nul-characters.ts';

describe('looking a value over for U+0000, which PostgreSQL text and jsonb cannot hold', () => {
  it('finds none in values without one, however they nest', () => {
    expect(findNulCharacter({ full_name: 'Nguyễn Văn Hùng', roles: ['a', { b: ['c', 1, null, true] }], nested: {} }, 'body')).toBeNull();
    expect(findNulCharacter('Trần Thị Thủy', 'q')).toBeNull();
    expect(findNulCharacter(42, 'n')).toBeNull();
    expect(findNulCharacter(null, 'n')).toBeNull();
  });

  it('names the path to a string that holds one, through objects and array indices', () => {
    expect(findNulCharacter({ full_name: 'Nguyễn\u0000' }, 'body')).toBe('body.full_name');
    expect(findNulCharacter({ claims: { groups: ['ok', 'b\u0000d'] } }, 'payload')).toBe('payload.claims.groups.1');
    expect(findNulCharacter('\u0000', 'q')).toBe('q');
  });

  it('reports a key that holds one at its object', () => {
    expect(findNulCharacter({ params: { ['x\u0000y']: 'value' } }, 'payload')).toBe('payload.params');
  });

  it('walks values nested far deeper than the call stack goes', () => {
    let deep: unknown = 'end\u0000';
    for (let level = 0; level < 100_000; level += 1) deep = [deep];
    expect(findNulCharacter(deep, 'body')).toMatch(/^body(\.0){100000}$/);
    let clean: unknown = 'end';
    for (let level = 0; level < 100_000; level += 1) clean = { inner: clean };
    expect(findNulCharacter(clean, 'body')).toBeNull();
  });
});
