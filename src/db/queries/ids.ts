const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Ids arrive from URLs, cookies and tokens; a malformed one means "no such row", not a database error. */
export function isUuid(value: string): boolean {
  return uuidPattern.test(value);
}
