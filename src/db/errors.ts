/** PostgreSQL's SQLSTATE for a unique violation, the same through pg and PGlite. */
export function isUniqueViolation(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === '23505';
}

/** Socket errors that mean the server could not be reached or went away. */
const unreachableCodes = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE']);

/**
 * SQLSTATEs of a server that is there but not serving: class 08 (connection exception), a shutdown
 * or crash in progress (57P01, 57P02), a server still starting or recovering (57P03), no free
 * connection slot (53300).
 */
const unavailableStates = /^(08...|57P0[123]|53300)$/;

/** pg's own words for a connection that ended or never came, which carry no code. */
const lostConnectionMessages = /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/;

/**
 * True when the error says the database was unreachable rather than that the query was wrong: the
 * kind of failure that waiting and retrying cures. Looks through `cause` (a failed migration wraps
 * the driver's error) and an AggregateError's parts (a host name with several addresses).
 */
export function isDatabaseUnavailable(error: unknown, depth = 0): boolean {
  if (typeof error !== 'object' || error === null || depth > 5) return false;
  const { code, message, cause } = error as { code?: unknown; message?: unknown; cause?: unknown };
  if (typeof code === 'string' && (unreachableCodes.has(code) || unavailableStates.test(code))) return true;
  if (typeof message === 'string' && lostConnectionMessages.test(message)) return true;
  if (error instanceof AggregateError && error.errors.some((part) => isDatabaseUnavailable(part, depth + 1))) return true;
  return isDatabaseUnavailable(cause, depth + 1);
}
