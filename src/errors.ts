/**
 * The one errors module. An AppError carries the stable wire code, the HTTP status, and whether its
 * message may be shown to the client (`expose`, true below 500). Internal detail goes in `cause`,
 * which the error handler logs and never sends.
 */
export class AppError extends Error {
  override name = 'AppError';
  readonly code: string;
  readonly status: number;
  readonly expose: boolean;

  /** `expose` defaults to status < 500; a deliberate 503 ("busy, try again") sets it. */
  constructor(code: string, message: string, status = 400, options?: { cause?: unknown; expose?: boolean }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.status = status;
    this.expose = options?.expose ?? status < 500;
  }
}

export const invalidInput = (message: string) => new AppError('invalid_input', message, 400);
/** A conflict; `cause` keeps the database's unique violation when that is what it was (SCIM answers those as uniqueness). */
export const conflict = (message: string, cause?: unknown) => new AppError('conflict', message, 409, cause === undefined ? undefined : { cause });

/** Replaces `if (!condition) throw error` with a line that also narrows the type. */
export function assertThat(condition: unknown, error: Error | (() => Error)): asserts condition {
  if (!condition) throw typeof error === 'function' ? error() : error;
}

/**
 * A SCIM error (RFC 7644 §3.12): a status and, for 400s and some 409s, the scimType that tells a
 * SCIM client what kind of mistake it made (invalidFilter, invalidPath, invalidValue, noTarget,
 * mutability, uniqueness, tooMany, invalidSyntax).
 */
export class ScimError extends AppError {
  override name = 'ScimError';
  readonly scimType: string | undefined;

  constructor(scimType: string | undefined, message: string, status = 400) {
    super(scimType ?? 'invalid_input', message, status);
    this.scimType = scimType;
  }
}
