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
  // A walk with its own stack: 256 kB of JSON can nest far deeper than the call stack goes.
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
