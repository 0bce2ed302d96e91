/**
 * PostgreSQL text and jsonb cannot hold U+0000: the server refuses it ("invalid byte sequence for
 * encoding UTF8: 0x00", or for jsonb "unsupported Unicode escape sequence"), which would surface as
 * a server error. No value Mekong ID stores has a use for it, so values from outside are looked
 * over with this before they reach a query, and refused as the caller's mistake.
 *
 * Returns where the first NUL is, as a dotted path from `root` ("body.full_name"; a key with a NUL
 * is reported at its object), or null when there is none.
 */
export function findNulCharacter(value: unknown, root: string): string | null {
  // Nearly every value has none: that answer is found without building a path per value (the OIDC
  // adapter looks over every token and session it stores), and the paths are walked for only when
  // there is one to report.
  return containsNulCharacter(value) ? pathToNulCharacter(value, root) : null;
}

// Both walk with their own stack: 256 kB of JSON can nest far deeper than the call stack goes.

function containsNulCharacter(value: unknown): boolean {
  const pending: unknown[] = [value];
  while (pending.length > 0) {
    const next = pending.pop();
    if (typeof next === 'string') {
      if (next.includes('\u0000')) return true;
    } else if (typeof next === 'object' && next !== null) {
      for (const key of Object.keys(next)) {
        if (key.includes('\u0000')) return true;
        pending.push((next as Record<string, unknown>)[key]);
      }
    }
  }
  return false;
}

function pathToNulCharacter(value: unknown, root: string): string | null {
  const pending: { value: unknown; path: string }[] = [{ value, path: root }];
  for (let next = pending.pop(); next; next = pending.pop()) {
    if (typeof next.value === 'string') {
      if (next.value.includes('\u0000')) return next.path;
    } else if (typeof next.value === 'object' && next.value !== null) {
      for (const [key, item] of Object.entries(next.value)) {
        pending.push({ value: key, path: next.path }, { value: item, path: `${next.path}.${key}` });
      }
    }
  }
  return null;
}
