import { createHash, randomBytes, randomUUID } from 'node:crypto';

import type { Kysely } from 'kysely';

import {
  consumeAccountToken, deleteUnusedAccountTokens, findRedeemableAccountToken, insertAccountTokens,
} from '../db/queries/account-tokens.ts';
import { insertOutboxMails } from '../db/queries/mail-outbox.ts';
import type { AccountTokenPurpose, Database, User } from '../db/schema.ts';
import { seal } from './sealed-box.ts';

/**
 * Single-use links sent to a person: activation and password reset. A token is 256 random
 * bits, so a fast hash is enough to store it (nobody can search that space); only the SHA-256 is
 * kept. The raw token leaves this module twice at most: sealed inside the outbox mail that carries
 * it, and returned once to the helpdesk action that issued it.
 */

/** How long an activation link works unless configured otherwise: a week covers leave and weekends. */
export const defaultActivationTtlSeconds = 7 * 24 * 60 * 60;

/** A reset link is for someone locked out now; an hour is enough and limits a leaked mail's worth. */
export const defaultPasswordResetTtlSeconds = 60 * 60;

export const activationMailTemplate = 'activation';
export const passwordResetMailTemplate = 'password_reset';

const mailTemplates: Record<AccountTokenPurpose, string> = {
  activation: activationMailTemplate,
  password_reset: passwordResetMailTemplate,
};
const defaultTtlSeconds: Record<AccountTokenPurpose, number> = {
  activation: defaultActivationTtlSeconds,
  password_reset: defaultPasswordResetTtlSeconds,
};

/**
 * The label a mail's secret is sealed under. It names the mail, so a sealed token copied into
 * another outbox row (to another recipient) no longer opens.
 */
export const mailSecretSealLabel = (mailId: string) => `mail-secret:${mailId}`;

/** Whom a token is for: the outbox mail needs the address and the name to greet. */
export type TokenRecipient = Pick<User, 'id' | 'username' | 'full_name' | 'email'>;

export interface IssueTokenOptions {
  /** MASTER_KEY, which seals the token inside the outbox mail. */
  readonly masterKey: Buffer;
  /** The clock the expiry counts from; now when unset. */
  readonly now?: Date | undefined;
  readonly ttlSeconds?: number | undefined;
}

const tokenPattern = /^[A-Za-z0-9_-]{43}$/;

export function hashAccountToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/**
 * Gives each person a new activation token, replacing any unused older one, and queues the mail
 * that carries it to those who have an email address. Bulk: a constant number of statements
 * whatever the number of people. Atomic: opens a transaction when not given one.
 */
export async function issueActivationTokens(
  db: Kysely<Database>,
  users: readonly TokenRecipient[],
  options: IssueTokenOptions,
): Promise<void> {
  await issueTokens(db, 'activation', users, options);
}

/**
 * One person's new activation token (the helpdesk's "send activation"): the older unused one stops
 * working, a mail is queued if they have an address, and the raw token is returned, this once, for
 * a person without one.
 */
export async function issueActivationToken(db: Kysely<Database>, user: TokenRecipient, options: IssueTokenOptions): Promise<string> {
  const [token] = await issueTokens(db, 'activation', [user], options);
  return token!;
}

/** A password reset link for someone with a mail address; an older unused one stops working. */
export async function issuePasswordResetToken(db: Kysely<Database>, user: TokenRecipient & { email: string }, options: IssueTokenOptions): Promise<void> {
  await issueTokens(db, 'password_reset', [user], options);
}

async function issueTokens(
  db: Kysely<Database>,
  purpose: AccountTokenPurpose,
  users: readonly TokenRecipient[],
  options: IssueTokenOptions,
): Promise<string[]> {
  if (users.length === 0) return [];
  if (!db.isTransaction) return db.transaction().execute((trx) => issueTokens(trx, purpose, users, options));
  const now = options.now ?? new Date();
  const expiresAt = new Date(now.getTime() + (options.ttlSeconds ?? defaultTtlSeconds[purpose]) * 1000);
  const tokens = users.map(() => randomBytes(32).toString('base64url'));
  await deleteUnusedAccountTokens(db, purpose, users.map((user) => user.id));
  await insertAccountTokens(db, users.map((user, index) => ({
    user_id: user.id,
    purpose,
    token_hash: hashAccountToken(tokens[index]!),
    expires_at: expiresAt,
  })));
  await insertOutboxMails(db, users.flatMap((user, index) => {
    if (user.email === null) return [];
    const id = randomUUID();
    return [{
      id,
      recipient: user.email,
      template: mailTemplates[purpose],
      params: { user_id: user.id, username: user.username, full_name: user.full_name, expires_at: expiresAt.toISOString() },
      secret_sealed: seal(options.masterKey, mailSecretSealLabel(id), tokens[index]!),
    }];
  }));
  return tokens;
}

/**
 * Spends a token: answers its user's id if the token is of this purpose, unused and unexpired, and
 * marks it used in the same statement; undefined otherwise, without saying which check failed.
 */
export async function redeemAccountToken(db: Kysely<Database>, purpose: AccountTokenPurpose, rawToken: string): Promise<string | undefined> {
  // A token arrives in a URL: anything that cannot be one is not worth a query.
  if (!tokenPattern.test(rawToken)) return undefined;
  return consumeAccountToken(db, purpose, hashAccountToken(rawToken));
}

/** The user a token would redeem for, without spending it: the form it opens is shown first. */
export async function peekAccountToken(db: Kysely<Database>, purpose: AccountTokenPurpose, rawToken: string): Promise<string | undefined> {
  if (!tokenPattern.test(rawToken)) return undefined;
  return findRedeemableAccountToken(db, purpose, hashAccountToken(rawToken));
}
