import { createHash, randomBytes, randomInt, randomUUID, timingSafeEqual } from 'node:crypto';

import { sql, type Kysely } from 'kysely';

import {
  countWrongContactCode, emailTakenByOther, findPendingContactChange, lastContactChangeRequest, findRedeemableContactChange,
  markContactChangeUsed, replaceContactChange,
} from '../db/queries/contact-changes.ts';
import { isUniqueViolation } from '../db/errors.ts';
import { insertOutboxMails } from '../db/queries/mail-outbox.ts';
import { findUserById, lockUser } from '../db/queries/users.ts';
import type { ContactKind, Database, User } from '../db/schema.ts';
import { AppError, invalidInput, localizable } from '../errors.ts';
import { translator } from '../i18n/catalog.ts';
import type { TextMessageSender } from '../sms/sender.ts';
import { hashAccountToken, mailSecretSealLabel } from './account-tokens.ts';
import { recordAuditEvent, type Actor, type RequestOrigin } from './audit.ts';
import { emailSchema, phoneSchema } from './person-fields.ts';
import { seal } from './sealed-box.ts';

/**
 * A person's own change of mail address or phone number, from the account console. Neither takes
 * effect until the person shows they receive there: a link mailed to the new address, a code sent
 * by text message to the new number. The address matters most: a password reset goes to it, so a
 * change also tells the old address, and needs a recent sign-in (the console checks that).
 */
export interface ContactChangeDeps {
  readonly db: Kysely<Database>;
  /** Seals the link inside its outbox mail. */
  readonly masterKey: Buffer;
  readonly sms: TextMessageSender;
  /**
   * Whether people may change their own number: only where a code can reach them (a gateway, or
   * the development outbox outside production). Otherwise the unit admin keeps numbers up to date.
   */
  readonly selfServicePhone: boolean;
}

/** The link is for someone at their desk now; a day covers a mail that comes late. */
export const emailChangeTtlSeconds = 24 * 60 * 60;
/** A code of six digits: short-lived, and few tries. */
export const phoneCodeTtlSeconds = 10 * 60;
export const maxPhoneCodeAttempts = 5;
/** One message per minute per person: each costs money and lands on someone's phone. */
export const contactResendSeconds = 60;

export const emailChangeMailTemplate = 'email_change';
export const emailChangeNoticeMailTemplate = 'email_change_notice';

const self = (user: Pick<User, 'id' | 'username'>): Actor => ({ type: 'user', id: user.id, name: user.username });
const codeHash = (changeId: string, code: string) => createHash('sha256').update(`${changeId}:${code}`, 'utf8').digest('hex');

export type RequestOutcome =
  | { readonly outcome: 'sent'; readonly to: string }
  | { readonly outcome: 'unchanged' }
  | { readonly outcome: 'taken' }
  | { readonly outcome: 'too_soon'; readonly retryAfterSeconds: number };

/** How long until the person may ask again, or 0. */
async function resendWait(db: Kysely<Database>, userId: string, kind: ContactKind): Promise<number> {
  const last = await lastContactChangeRequest(db, userId, kind);
  const elapsed = last ? (Date.now() - last.getTime()) / 1000 : Infinity;
  return elapsed < contactResendSeconds ? Math.ceil(contactResendSeconds - elapsed) : 0;
}

/**
 * Mails a confirmation link to the new address, and a notice to the old one. Nothing changes until
 * the link is followed; a newer request replaces an older one.
 */
export async function requestEmailChange(
  deps: Pick<ContactChangeDeps, 'db' | 'masterKey'>,
  user: User,
  rawEmail: string,
  origin: RequestOrigin,
): Promise<RequestOutcome> {
  const parsed = emailSchema.safeParse(rawEmail.normalize('NFC'));
  if (!parsed.success) throw invalidInput(parsed.error.issues.map((issue) => issue.message).join('; '));
  const email = parsed.data;
  if (user.email?.toLowerCase() === email && user.email_verified) return { outcome: 'unchanged' };
  return deps.db.transaction().execute(async (trx) => {
    // Two posts at once must not both pass the resend limit.
    await lockUser(trx, user.id);
    const wait = await resendWait(trx, user.id, 'email');
    if (wait > 0) return { outcome: 'too_soon', retryAfterSeconds: wait } as const;
    // Colleagues' addresses are in the directory anyway: saying so now beats a link that cannot work.
    if (await emailTakenByOther(trx, email, user.id)) return { outcome: 'taken' } as const;
    const changeId = randomUUID();
    const token = randomBytes(32).toString('base64url');
    const expiresAt = new Date(Date.now() + emailChangeTtlSeconds * 1000);
    await replaceContactChange(trx, {
      id: changeId, user_id: user.id, kind: 'email', new_value: email, secret_hash: hashAccountToken(token), expires_at: expiresAt,
    });
    const params = { user_id: user.id, username: user.username, full_name: user.full_name, new_email: email, expires_at: expiresAt.toISOString() };
    const mailId = randomUUID();
    await insertOutboxMails(trx, [
      { id: mailId, recipient: email, template: emailChangeMailTemplate, params, secret_sealed: seal(deps.masterKey, mailSecretSealLabel(mailId), token) },
      ...(user.email && user.email.toLowerCase() !== email
        ? [{ id: randomUUID(), recipient: user.email, template: emailChangeNoticeMailTemplate, params, secret_sealed: null }]
        : []),
    ]);
    await recordAuditEvent(trx, {
      actor: self(user), origin, action: 'user.email_change.request', target: { type: 'user', id: user.id }, orgUnitId: user.primary_org_unit_id,
      details: { new_email: email },
    });
    return { outcome: 'sent', to: email } as const;
  });
}

/** What a mailed link would change, without spending it: the page it opens asks to confirm first. */
export async function peekEmailChange(db: Kysely<Database>, rawToken: string): Promise<{ user: User; newEmail: string } | undefined> {
  if (!/^[A-Za-z0-9_-]{43}$/.test(rawToken)) return undefined;
  const change = await findRedeemableContactChange(db, 'email', hashAccountToken(rawToken));
  const user = change ? await findUserById(db, change.user_id) : undefined;
  return change && user?.status === 'active' ? { user, newEmail: change.new_value } : undefined;
}

export type ConfirmOutcome =
  | { readonly outcome: 'changed'; readonly user: User }
  | { readonly outcome: 'invalid' }
  | { readonly outcome: 'taken' };

/**
 * Follows a mailed link: the address becomes the person's, verified. A link that is unknown,
 * spent, expired or for someone no longer active is `invalid`, without saying which.
 */
export async function confirmEmailChange(db: Kysely<Database>, rawToken: string, origin: RequestOrigin): Promise<ConfirmOutcome> {
  if (!/^[A-Za-z0-9_-]{43}$/.test(rawToken)) return { outcome: 'invalid' };
  try {
    return await applyEmailChange(db, rawToken, origin);
  } catch (error) {
    // Two people confirming the same address at once: the unique index decides, and the loser is told.
    if (isUniqueViolation(error)) return { outcome: 'taken' };
    throw error;
  }
}

async function applyEmailChange(db: Kysely<Database>, rawToken: string, origin: RequestOrigin): Promise<ConfirmOutcome> {
  return db.transaction().execute(async (trx) => {
    const change = await findRedeemableContactChange(trx, 'email', hashAccountToken(rawToken), { lock: true });
    if (!change) return { outcome: 'invalid' } as const;
    const user = await lockedUser(trx, change.user_id);
    if (user?.status !== 'active') return { outcome: 'invalid' } as const;
    await markContactChangeUsed(trx, change.id);
    // Someone else may have been given the address since the link was sent.
    if (await emailTakenByOther(trx, change.new_value, user.id)) return { outcome: 'taken' } as const;
    const updated = await applyContact(trx, user, { email: change.new_value, email_verified: true }, origin, 'email_link');
    return { outcome: 'changed', user: updated } as const;
  });
}

/**
 * Sends a code to the new number. The number changes when the code comes back (confirmPhoneChange);
 * a message the gateway refuses leaves nothing pending and says so.
 */
export async function requestPhoneChange(deps: ContactChangeDeps, user: User, rawPhone: string, origin: RequestOrigin): Promise<RequestOutcome> {
  const parsed = phoneSchema.safeParse(rawPhone);
  if (!parsed.success) throw invalidInput(parsed.error.issues.map((issue) => issue.message).join('; '));
  const phone = parsed.data;
  if (user.phone === phone && user.phone_verified) return { outcome: 'unchanged' };
  if (!deps.selfServicePhone) throw phoneChangeUnavailable();
  const code = String(randomInt(0, 1_000_000)).padStart(6, '0');
  const changeId = randomUUID();
  const pending = await deps.db.transaction().execute(async (trx) => {
    await lockUser(trx, user.id);
    const wait = await resendWait(trx, user.id, 'phone');
    if (wait > 0) return { outcome: 'too_soon', retryAfterSeconds: wait } as const;
    await replaceContactChange(trx, {
      id: changeId, user_id: user.id, kind: 'phone', new_value: phone, secret_hash: codeHash(changeId, code),
      expires_at: new Date(Date.now() + phoneCodeTtlSeconds * 1000),
    });
    await recordAuditEvent(trx, {
      actor: self(user), origin, action: 'user.phone_change.request', target: { type: 'user', id: user.id }, orgUnitId: user.primary_org_unit_id,
      details: { new_phone: phone },
    });
    return null;
  });
  if (pending) return pending;
  try {
    await deps.sms.send({ to: phone, text: phoneCodeMessage(code) });
  } catch (error) {
    await markContactChangeUsed(deps.db, changeId);
    throw new AppError('sms_failed', 'the code could not be sent to that number; try again in a few minutes', 503, { cause: error, expose: true });
  }
  return { outcome: 'sent', to: phone };
}

/** The message that carries the code: both languages, short enough for one message without diacritics' cost. */
export function phoneCodeMessage(code: string): string {
  const values = { code, minutes: String(phoneCodeTtlSeconds / 60) };
  return `${translator('vi')('sms.phone_code', values)}\n${translator('en')('sms.phone_code', values)}`;
}

export type CodeOutcome =
  | { readonly outcome: 'changed'; readonly user: User }
  | { readonly outcome: 'wrong_code'; readonly attemptsLeft: number }
  | { readonly outcome: 'expired' };

/** The code typed back: right, the number is the person's, verified; wrong too often, start again. */
export async function confirmPhoneChange(db: Kysely<Database>, user: User, code: string, origin: RequestOrigin): Promise<CodeOutcome> {
  const typed = code.replace(/\s/g, '');
  return db.transaction().execute(async (trx) => {
    const change = await findPendingContactChange(trx, user.id, 'phone', { lock: true });
    if (!change) return { outcome: 'expired' } as const;
    const expected = Buffer.from(change.secret_hash, 'hex');
    const actual = Buffer.from(codeHash(change.id, typed), 'hex');
    if (!/^\d{6}$/.test(typed) || !timingSafeEqual(expected, actual)) {
      const attempts = await countWrongContactCode(trx, change.id, maxPhoneCodeAttempts);
      return attempts >= maxPhoneCodeAttempts ? { outcome: 'expired' } as const : { outcome: 'wrong_code', attemptsLeft: maxPhoneCodeAttempts - attempts } as const;
    }
    await markContactChangeUsed(trx, change.id);
    const current = await lockedUser(trx, user.id);
    if (current?.status !== 'active') return { outcome: 'expired' } as const;
    return { outcome: 'changed', user: await applyContact(trx, current, { phone: change.new_value, phone_verified: true }, origin, 'sms_code') } as const;
  });
}

/** The address waiting for its link to be followed, if any. */
export async function pendingEmailChange(db: Kysely<Database>, userId: string): Promise<string | undefined> {
  return (await findPendingContactChange(db, userId, 'email'))?.new_value;
}

/** The number waiting for its code, if any: the console shows the code form for it. */
export async function pendingPhoneChange(db: Kysely<Database>, userId: string): Promise<string | undefined> {
  return (await findPendingContactChange(db, userId, 'phone'))?.new_value;
}

/** Taking one's own number off needs no proof, only the right to manage it. */
export async function removeOwnPhone(deps: Pick<ContactChangeDeps, 'db' | 'selfServicePhone'>, user: User, origin: RequestOrigin): Promise<User> {
  if (!deps.selfServicePhone) throw phoneChangeUnavailable();
  return deps.db.transaction().execute(async (trx) => {
    const current = await lockedUser(trx, user.id);
    if (!current?.phone) return current ?? user;
    return applyContact(trx, current, { phone: null, phone_verified: false }, origin, 'removed');
  });
}

/** The person's row as it stands, locked until the transaction ends. */
async function lockedUser(trx: Kysely<Database>, id: string): Promise<User | undefined> {
  return (await lockUser(trx, id)) ? findUserById(trx, id) : undefined;
}

type ContactFields = Partial<Pick<User, 'email' | 'email_verified' | 'phone' | 'phone_verified'>>;

async function applyContact(trx: Kysely<Database>, user: User, fields: ContactFields, origin: RequestOrigin, proof: string): Promise<User> {
  const updated = await trx.updateTable('users')
    .set({ ...fields, version: sql<number>`version + 1`, updated_at: sql<Date>`now()` })
    .where('id', '=', user.id)
    .returningAll()
    .executeTakeFirstOrThrow();
  const before = Object.fromEntries(Object.keys(fields).map((key) => [key, user[key as keyof ContactFields]]));
  await recordAuditEvent(trx, {
    actor: self(user), origin, action: 'user.update', target: { type: 'user', id: user.id }, orgUnitId: user.primary_org_unit_id,
    before, after: fields, details: { self_service: true, proof },
  });
  return updated;
}

const phoneChangeUnavailable = () =>
  new AppError('phone_change_unavailable', localizable('no text-message gateway is configured, so your unit admin keeps phone numbers up to date', 'problem.contact.phone_by_admin'), 409);
