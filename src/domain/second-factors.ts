import { createHash, randomInt, randomUUID } from 'node:crypto';

import type { Kysely } from 'kysely';
import * as OTPAuth from 'otpauth';
import QRCode from 'qrcode';

import {
  acceptTotpStep, consumeRecoveryCode, countUnusedRecoveryCodes, deleteAllFactors, deleteFactor, findConfirmedFactors,
  findFactor, insertTotpFactor, orgPolicyRequiresSecondFactor, replaceRecoveryCodes,
} from '../db/queries/second-factors.ts';
import { insertOutboxMails } from '../db/queries/mail-outbox.ts';
import type { Database, User, UserFactor } from '../db/schema.ts';
import { AppError, invalidInput, localizable } from '../errors.ts';
import { recordAuditEvent, type Actor, type RequestOrigin } from './audit.ts';
import { seal, unseal } from './sealed-box.ts';

/**
 * Second factors: TOTP (RFC 6238) and recovery codes here, passkeys in webauthn.ts. How strongly a
 * person signed in is told to apps as `acr` (one of the two levels below) and `amr` (RFC 8176).
 */
export const authenticationLevels = {
  /** Something the person knows: a password alone. */
  password: 'urn:mekong-id:acr:password',
  /** Two factors: a password and a code or key, or a passkey verified with the person's PIN or biometrics. */
  mfa: 'urn:mekong-id:acr:mfa',
} as const;
export type AuthenticationLevel = (typeof authenticationLevels)[keyof typeof authenticationLevels];

export interface SecondFactorDeps {
  readonly db: Kysely<Database>;
  readonly masterKey: Buffer;
}

export interface FactorChange {
  readonly actor: Actor;
  readonly origin: RequestOrigin;
}

/** The name authenticator apps show above the code. */
const totpIssuer = 'Mekong ID';
const totpPeriodSeconds = 30;
/** One step either side: a phone's clock may be half a minute off. */
const totpWindow = 1;

export const totpSealLabel = (factorId: string) => `totp:${factorId}`;

function totpFor(secretBase32: string, label: string): OTPAuth.TOTP {
  return new OTPAuth.TOTP({
    issuer: totpIssuer, label, algorithm: 'SHA1', digits: 6, period: totpPeriodSeconds, secret: OTPAuth.Secret.fromBase32(secretBase32),
  });
}

export interface TotpEnrolment {
  readonly factorId: string;
  /** The key to type by hand, in groups of four. */
  readonly manualKey: string;
  readonly otpauthUri: string;
  /** The QR code of the URI as an SVG data URL, for an <img> (the CSP allows data: images). */
  readonly qrCodeDataUrl: string;
}

/** Starts a TOTP enrolment: a new 160-bit secret, kept sealed and unconfirmed until its first code. */
export async function startTotpEnrolment(deps: SecondFactorDeps, user: Pick<User, 'id' | 'username'>, name: string): Promise<TotpEnrolment> {
  const factorId = randomUUID();
  const secret = new OTPAuth.Secret({ size: 20 }).base32;
  await insertTotpFactor(deps.db, {
    id: factorId, userId: user.id, name: factorName(name, 'totp'), secretSealed: seal(deps.masterKey, totpSealLabel(factorId), secret),
  });
  return enrolmentOf(factorId, secret, user.username);
}

/** The same enrolment again (the page reloaded, or the first code was wrong), without a new secret. */
export async function resumeTotpEnrolment(deps: SecondFactorDeps, user: Pick<User, 'id' | 'username'>, factorId: string): Promise<TotpEnrolment | undefined> {
  const factor = await findFactor(deps.db, user.id, factorId);
  if (factor?.kind !== 'totp' || factor.confirmed_at !== null) return undefined;
  return enrolmentOf(factorId, unseal(deps.masterKey, totpSealLabel(factorId), factor.totp_secret_sealed!), user.username);
}

async function enrolmentOf(factorId: string, secret: string, username: string): Promise<TotpEnrolment> {
  const otpauthUri = totpFor(secret, username).toString();
  const svg = await QRCode.toString(otpauthUri, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
  return {
    factorId,
    manualKey: secret.match(/.{1,4}/g)!.join(' '),
    otpauthUri,
    qrCodeDataUrl: `data:image/svg+xml;base64,${Buffer.from(svg).toString('base64')}`,
  };
}

/**
 * Checks a TOTP code against a factor: within one step of drift, and later than the last code
 * accepted, so a code seen over someone's shoulder cannot be used again. Confirms an enrolment.
 */
export async function verifyTotpCode(deps: SecondFactorDeps, factor: UserFactor, code: string, now = Date.now()): Promise<boolean> {
  const token = code.replace(/\s/g, '');
  if (factor.kind !== 'totp' || !/^\d{6}$/.test(token)) return false;
  const secret = unseal(deps.masterKey, totpSealLabel(factor.id), factor.totp_secret_sealed!);
  const delta = totpFor(secret, '').validate({ token, timestamp: now, window: totpWindow });
  if (delta === null) return false;
  const step = Math.floor(now / 1000 / totpPeriodSeconds) + delta;
  return acceptTotpStep(deps.db, factor.id, step);
}

/**
 * Confirms a TOTP enrolment with its first code. The first factor a person adds comes with their
 * recovery codes, returned this once; later ones do not replace codes already printed.
 */
export async function confirmTotpEnrolment(
  deps: SecondFactorDeps,
  user: Pick<User, 'id' | 'username' | 'primary_org_unit_id'>,
  factorId: string,
  code: string,
  change: FactorChange,
): Promise<{ confirmed: false } | { confirmed: true; recoveryCodes: string[] | null }> {
  const factor = await findFactor(deps.db, user.id, factorId);
  if (factor?.kind !== 'totp' || factor.confirmed_at !== null) return { confirmed: false };
  return deps.db.transaction().execute(async (trx) => {
    if (!(await verifyTotpCode({ ...deps, db: trx }, factor, code))) return { confirmed: false as const };
    const recoveryCodes = (await countUnusedRecoveryCodes(trx, user.id)) === 0 ? await issueRecoveryCodes(trx, user.id) : null;
    await recordAuditEvent(trx, {
      actor: change.actor, origin: change.origin, action: 'mfa.enrol', target: { type: 'user', id: user.id }, orgUnitId: user.primary_org_unit_id,
      after: { factor_id: factor.id, kind: 'totp', name: factor.name, recovery_codes_issued: recoveryCodes !== null },
    });
    return { confirmed: true as const, recoveryCodes };
  });
}

export const recoveryCodeCount = 10;
/** No 0/O, 1/I/L: the codes are read off paper. 32 symbols, 16 of them: 80 bits per code. */
const recoveryAlphabet = 'ABCDEFGHJKMNPQRSTUVWXYZ23456789';
const recoveryLength = 16;

function normalizeRecoveryCode(code: string): string {
  return code.toUpperCase().replace(/[^A-Z0-9]/g, '');
}

const hashRecoveryCode = (code: string) => createHash('sha256').update(normalizeRecoveryCode(code), 'utf8').digest('hex');

/** Ten new codes, replacing any older ones. Returned this once; only their hashes are kept. */
export async function issueRecoveryCodes(db: Kysely<Database>, userId: string): Promise<string[]> {
  const codes = Array.from({ length: recoveryCodeCount }, () => {
    const raw = Array.from({ length: recoveryLength }, () => recoveryAlphabet[randomInt(recoveryAlphabet.length)]).join('');
    return raw.match(/.{4}/g)!.join('-');
  });
  await replaceRecoveryCodes(db, userId, codes.map(hashRecoveryCode));
  return codes;
}

/** New recovery codes asked for by their owner; the old ones stop working. Audited. */
export async function regenerateRecoveryCodes(deps: SecondFactorDeps, user: Pick<User, 'id' | 'primary_org_unit_id'>, change: FactorChange): Promise<string[]> {
  return deps.db.transaction().execute(async (trx) => {
    const codes = await issueRecoveryCodes(trx, user.id);
    await recordAuditEvent(trx, {
      actor: change.actor, origin: change.origin, action: 'mfa.recovery_codes.regenerate', target: { type: 'user', id: user.id }, orgUnitId: user.primary_org_unit_id,
    });
    return codes;
  });
}

export async function redeemRecoveryCode(db: Kysely<Database>, userId: string, code: string): Promise<boolean> {
  if (normalizeRecoveryCode(code).length !== recoveryLength) return false;
  return consumeRecoveryCode(db, userId, hashRecoveryCode(code));
}

export { countUnusedRecoveryCodes, findConfirmedFactors };

/** Whether this person must sign in with a second factor to reach this app: the app's flag or their units' policy. */
export async function secondFactorRequired(db: Kysely<Database>, userId: string, client: { mfaRequired: boolean }): Promise<boolean> {
  return client.mfaRequired || orgPolicyRequiresSecondFactor(db, userId);
}

/** A person removes one of their own factors. Audited. */
export async function removeFactor(deps: SecondFactorDeps, user: Pick<User, 'id' | 'primary_org_unit_id'>, factorId: string, change: FactorChange): Promise<void> {
  await deps.db.transaction().execute(async (trx) => {
    const removed = await deleteFactor(trx, user.id, factorId);
    if (!removed || removed.confirmed_at === null) throw new AppError('not_found', localizable(`no second factor with id ${factorId}`, 'problem.factor.not_found'), 404);
    const remaining = await findConfirmedFactors(trx, user.id);
    // Recovery codes exist to stand in for a factor; with none left they would be a factor of their own.
    if (remaining.length === 0) await deleteAllFactors(trx, user.id);
    await recordAuditEvent(trx, {
      actor: change.actor, origin: change.origin, action: 'mfa.remove', target: { type: 'user', id: user.id }, orgUnitId: user.primary_org_unit_id,
      before: { factor_id: removed.id, kind: removed.kind, name: removed.name },
    });
  });
}

export const factorsResetMailTemplate = 'factors_reset';

/**
 * The helpdesk's reset, for a person who lost their phone: every factor and recovery code goes, the
 * person is told by mail, and the audit log says who did it. Authorization is the caller's job
 * (users.ts checks the `users.reset_factors` permission over the person's unit).
 */
export async function resetSecondFactors(
  db: Kysely<Database>,
  user: Pick<User, 'id' | 'username' | 'full_name' | 'email' | 'primary_org_unit_id'>,
  change: FactorChange,
): Promise<number> {
  if (!db.isTransaction) return db.transaction().execute((trx) => resetSecondFactors(trx, user, change));
  const removed = await deleteAllFactors(db, user.id);
  if (user.email) {
    await insertOutboxMails(db, [{
      id: randomUUID(), recipient: user.email, template: factorsResetMailTemplate,
      params: { user_id: user.id, username: user.username, full_name: user.full_name }, secret_sealed: null,
    }]);
  }
  await recordAuditEvent(db, {
    actor: change.actor, origin: change.origin, action: 'mfa.reset', target: { type: 'user', id: user.id }, orgUnitId: user.primary_org_unit_id,
    before: { factors: removed }, details: { notified: user.email !== null },
  });
  return removed.length;
}

function factorName(name: string, kind: 'totp' | 'webauthn'): string {
  const trimmed = name.normalize('NFC').trim();
  if (trimmed.length > 100) throw invalidInput(localizable('a second factor name has at most 100 characters', 'problem.factor.name_too_long'));
  return trimmed || (kind === 'totp' ? 'Authenticator' : 'Passkey');
}
