import type { z } from 'zod';

import type { MessageKey, MessageParams, Translate } from './i18n/catalog.ts';

/** A message a page shows in its own language: a catalog entry and the values of its {placeholders}. */
export interface LocalizedMessage {
  readonly key: MessageKey;
  readonly params?: Readonly<Record<string, string>>;
}

/**
 * What an error or a form problem says: the English sentence that the API's JSON, the CLI and the
 * logs carry (stable, as clients may show it), and the catalog entry that pages show instead.
 */
export interface LocalizableMessage {
  readonly english: string;
  readonly localized: LocalizedMessage;
}

/** A line a page shows (an import problem, a dry run's loss): the English for the API and files, the catalog entry for the page. */
export const said = (message: LocalizableMessage): Said => ({ message: message.english, localized: message.localized });

export interface Said {
  readonly message: string;
  readonly localized: LocalizedMessage;
}

/** `localizable('no user has this id', 'problem.user.not_found')`: the key's placeholders are type-checked against the catalog. */
export function localizable<Key extends MessageKey>(english: string, key: Key, ...params: MessageParams<Key>): LocalizableMessage {
  const [values] = params;
  return { english, localized: values === undefined ? { key } : { key, params: values } };
}

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
  /** What a page shows in its language instead of `message`; an error without one shows its English. */
  readonly localized: LocalizedMessage | undefined;

  /** `expose` defaults to status < 500; a deliberate 503 ("busy, try again") sets it. */
  constructor(code: string, message: string | LocalizableMessage, status = 400, options?: { cause?: unknown; expose?: boolean }) {
    super(typeof message === 'string' ? message : message.english, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.status = status;
    this.expose = options?.expose ?? status < 500;
    this.localized = typeof message === 'string' ? undefined : message.localized;
  }
}

export const invalidInput = (message: string | LocalizableMessage) => new AppError('invalid_input', message, 400);
/** A conflict; `cause` keeps the database's unique violation when that is what it was (SCIM answers those as uniqueness). */
/** A page cursor that is not one we gave out, or not for this order. */
export const invalidCursor = () => new AppError('invalid_cursor', 'the cursor is not one this API gave out; start again from the first page', 400);
export const conflict = (message: string | LocalizableMessage, cause?: unknown) => new AppError('conflict', message, 409, cause === undefined ? undefined : { cause });

/** An error's message in a page's language: its catalog entry when it has one, its English otherwise. */
export function messageIn(t: Translate, error: AppError): string {
  return error.localized ? t(error.localized.key, error.localized.params) : error.message;
}

/** A form problem that a page can translate: the English in `message`, the catalog entry in `params.localized`, as on an AppError. */
export function addLocalizedIssue(ctx: z.RefinementCtx, message: LocalizableMessage, path?: PropertyKey[]): void {
  ctx.addIssue({ code: 'custom', message: message.english, params: { localized: message.localized }, ...(path ? { path } : {}) });
}

/** The catalog entry a schema gave a zod issue (addLocalizedIssue), if any. */
export function localizedIssue(issue: z.core.$ZodIssue | undefined): LocalizedMessage | undefined {
  return (issue as { params?: { localized?: LocalizedMessage } } | undefined)?.params?.localized;
}

/**
 * zod's own problems (empty, too long, not a choice, not an email) as catalog entries, from what
 * the issue records, whatever English the schema gave them: beside a field's label or a column's
 * name, "cannot be empty" says enough. Undefined for a refinement of the schema's own.
 */
export function problemOfKind(issue: z.core.$ZodIssue): LocalizedMessage | undefined {
  const size = (value: number | bigint) => ({ count: String(value) });
  switch (issue.code) {
    case 'too_small':
      if (issue.origin === 'string') return Number(issue.minimum) <= 1 ? { key: 'form.problem.required' } : { key: 'form.problem.too_short', params: size(issue.minimum) };
      if (issue.origin === 'array' || issue.origin === 'set') return { key: 'form.problem.too_few', params: size(issue.minimum) };
      return { key: 'form.problem.too_small', params: size(issue.minimum) };
    case 'too_big':
      if (issue.origin === 'string') return { key: 'form.problem.too_long', params: size(issue.maximum) };
      if (issue.origin === 'array' || issue.origin === 'set') return { key: 'form.problem.too_many', params: size(issue.maximum) };
      return { key: 'form.problem.too_big', params: size(issue.maximum) };
    case 'invalid_format':
      if (issue.format === 'email') return { key: 'form.problem.email' };
      if (issue.format === 'uuid' || issue.format === 'guid') return { key: 'form.problem.choice' };
      return { key: 'form.problem.format' };
    case 'invalid_value':
      return { key: 'form.problem.choice' };
    case 'invalid_type':
      // A form posts text: a value of the wrong type is one that was not posted at all.
      return { key: 'form.problem.required' };
    default:
      return undefined;
  }
}

/** A zod issue's message in a page's language, when the schema gave it a catalog entry; null otherwise. */
export function localizedIssueMessage(t: Translate, issue: z.core.$ZodIssue): string | null {
  const localized = localizedIssue(issue);
  return localized ? t(localized.key, localized.params) : null;
}

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
