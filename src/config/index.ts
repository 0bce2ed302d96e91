import { hkdfSync } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';

import type { ThrottlePolicy } from '../domain/login-throttle.ts';
import type { PasswordPolicy } from '../domain/password-policy.ts';
import { readOrCreateDevelopmentMasterKey } from './master-key.ts';

/**
 * Every setting Mekong ID reads from its environment, parsed once at start-up.
 * Each key says what it does and what we recommend; a bad value stops start-up
 * with a message that names the variable.
 */
const environmentSchema = z.object({
  /** `production` makes MASTER_KEY and COOKIE_KEYS mandatory and marks cookies Secure behind https. */
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  /** PostgreSQL connection string. Unset: the embedded PGlite database in DATA_DIR. */
  DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }).optional(),
  /** Where the embedded database (and the development master key) live. */
  DATA_DIR: z.string().min(1).default('./data'),
  /** TCP port to listen on. */
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  /** The issuer identifier: the public base URL, without a trailing slash. Default http://localhost:$PORT. */
  ISSUER: z
    .url({ protocol: /^https?$/ })
    .superRefine((value, ctx) => {
      // zod runs refinements even after the URL check failed; that failure has been reported.
      if (!URL.canParse(value)) return;
      const url = new URL(value);
      if (value.endsWith('/')) ctx.addIssue({ code: 'custom', message: 'must not end with "/"' });
      // oidc-provider and Mekong ID's pages are mounted at the root: give Mekong ID its own host name.
      else if (url.pathname !== '/') ctx.addIssue({ code: 'custom', message: 'must be an origin without a path, such as https://id.example.gov.vn' });
      if (url.search || url.hash) ctx.addIssue({ code: 'custom', message: 'must not have a query or fragment' });
    })
    .optional(),
  /**
   * 32 bytes, base64 or hex: encrypts signing keys at rest. Required in production; in development
   * it is generated into DATA_DIR/master.key on first start. Losing it loses the signing keys.
   */
  MASTER_KEY: z.string().optional(),
  /**
   * Comma-separated secrets that sign cookies, newest first (older ones still verify, so rotation
   * does not log anyone out). Required in production; in development derived from MASTER_KEY.
   */
  COOKIE_KEYS: z.string().optional(),
  /** smtp:// or smtps:// URL of the mail relay. Unset: mail is written to the development outbox. */
  SMTP_URL: z.url({ protocol: /^smtps?$/ }).optional(),
  /** The From of every mail; defaults to no-reply at the issuer's host name. */
  MAIL_FROM: z.string().min(3).optional(),
  /**
   * An HTTP gateway for text messages (sms/sender.ts): each message is POSTed as JSON
   * {"to": "+84…", "text": "…"}, with SMS_GATEWAY_TOKEN as a bearer token when set. Unset: messages
   * are written to the development outbox in DATA_DIR/sms, and in production people cannot change
   * their own phone number (no code can reach them).
   */
  SMS_GATEWAY_URL: z.url({ protocol: /^https?$/ }).optional(),
  SMS_GATEWAY_TOKEN: z.string().min(1).optional(),
  /** How often each node looks for mail due in the outbox. */
  MAIL_POLL_SECONDS: z.coerce.number().min(0.1).max(3600).default(5),
  /** pino level. */
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Trust X-Forwarded-* from a reverse proxy. Only set it when a proxy you run sits in front. */
  TRUST_PROXY: z.stringbool().default(false),
  /**
   * argon2id cost. The defaults are OWASP's recommendation (19 MiB, 2 passes, 1 lane); the argon2
   * package's own defaults cost about seven times more CPU per login. Raising them rehashes each
   * password at its owner's next login.
   */
  ARGON2_MEMORY_KIB: z.coerce.number().int().min(8192).default(19456),
  ARGON2_TIME_COST: z.coerce.number().int().min(1).default(2),
  ARGON2_PARALLELISM: z.coerce.number().int().min(1).default(1),
  /**
   * How many password hashes may run at once. Default: the number of cores, but always leaving two
   * of libuv's threads (UV_THREADPOOL_SIZE, which bin/mekong-id.js sizes to cores + 2, at least 4) free, because
   * token signing runs on the same threads and must not wait behind a burst of logins.
   */
  ARGON2_CONCURRENCY: z.coerce.number().int().min(1).optional(),
  /**
   * Hashes that may wait for a slot. Beyond that a login is refused with "busy, try again" (503)
   * instead of queueing without bound. Default: 50 per slot, about two seconds of waiting.
   */
  ARGON2_MAX_QUEUE: z.coerce.number().int().min(1).optional(),
  /** Set by bin/mekong-id.js before anything starts; read here only to size ARGON2_CONCURRENCY. */
  UV_THREADPOOL_SIZE: z.coerce.number().int().min(1).max(1024).default(4),
  /**
   * Comma-separated CIDR networks that outbound calls (back-channel logout, client JWKS) may reach
   * although they are private or loopback, for example the intranet the province's apps live on:
   * "10.0.0.0/8,192.168.0.0/16". Public addresses are always allowed. Default: none in production,
   * loopback elsewhere.
   */
  OUTBOUND_ALLOWED_NETWORKS: z
    .string()
    .transform((value) => value.split(',').map((part) => part.trim()).filter(Boolean))
    .pipe(z.array(z.union([z.cidrv4(), z.cidrv6()], { error: 'must be CIDR networks such as 10.0.0.0/8' })))
    .optional(),
  /**
   * A bearer token Prometheus presents to scrape /metrics (at least 32 characters). Either this or
   * METRICS_ALLOWED_NETWORKS lets a scraper in; with neither, /metrics answers no one.
   */
  METRICS_TOKEN: z.string().min(32, 'must be at least 32 characters').optional(),
  /** CIDR networks that may scrape /metrics without a token. Default: loopback outside production, none in it. */
  METRICS_ALLOWED_NETWORKS: z
    .string()
    .transform((value) => value.split(',').map((part) => part.trim()).filter(Boolean))
    .pipe(z.array(z.union([z.cidrv4(), z.cidrv6()], { error: 'must be CIDR networks such as 10.0.0.0/8' })))
    .optional(),
  /** The shortest password accepted (NIST SP 800-63B asks for at least 8; 10 is our default). */
  PASSWORD_MIN_LENGTH: z.coerce.number().int().min(8).max(64).default(10),
  /**
   * Days a password lasts before the person must choose a new one at sign-in; 0 (the default) for
   * never, as NIST SP 800-63B advises. Some government rules ask for a periodic change.
   */
  PASSWORD_MAX_AGE_DAYS: z.coerce.number().int().min(0).max(3650).default(0),
  /**
   * Brute-force protection (domain/login-throttle.ts). After LOGIN_DELAY_AFTER_FAILURES failures
   * from one address against one name, its attempts are spaced out, doubling up to
   * LOGIN_MAX_DELAY_SECONDS. LOGIN_LOCKOUT_THRESHOLD failures against one name within
   * LOGIN_FAILURE_WINDOW_SECONDS, from two addresses or more, lock it for LOGIN_LOCKOUT_SECONDS.
   * An address with LOGIN_ADDRESS_MAX_FAILURES failures in the window waits for the window's end.
   */
  LOGIN_DELAY_AFTER_FAILURES: z.coerce.number().int().min(1).default(3),
  LOGIN_MAX_DELAY_SECONDS: z.coerce.number().int().min(1).default(3600),
  LOGIN_LOCKOUT_THRESHOLD: z.coerce.number().int().min(2).default(10),
  LOGIN_LOCKOUT_SECONDS: z.coerce.number().int().min(1).default(15 * 60),
  LOGIN_FAILURE_WINDOW_SECONDS: z.coerce.number().int().min(1).default(15 * 60),
  LOGIN_ADDRESS_MAX_FAILURES: z.coerce.number().int().min(1).default(100),
  /**
   * A sign-in session ends after this long without use (no app asked for a sign-in), and in any
   * case this long after the person signed in; at most 12 hours, a working day.
   */
  SESSION_IDLE_SECONDS: z.coerce.number().int().min(60).max(43200).default(4 * 3600),
  SESSION_MAX_SECONDS: z.coerce.number().int().min(300).max(43200).default(43200),
  /** Offer "remember me" on the login page; unticked (and always, when off) the session cookie lasts until the browser closes. */
  SESSION_REMEMBER_ME: z.stringbool().default(true),
  /** Offer "sign in with a passkey" without a password (a passkey verified by PIN or biometrics is two factors). */
  PASSKEY_SIGN_IN: z.stringbool().default(true),
  /** Seconds between sweeps of expired OIDC artifacts (sessions, codes, tokens). */
  CLEANUP_INTERVAL_SECONDS: z.coerce.number().int().min(1).default(300),
  /**
   * Seconds a rotated-in signing key is published in JWKS before it signs, so that relying parties
   * that cache JWKS learn it first. One day is safe for clients that cache for a day.
   */
  KEY_PUBLISH_AHEAD_SECONDS: z.coerce.number().int().min(0).default(24 * 60 * 60),
  /**
   * Seconds between runs of the governance job (governance-jobs.ts): personnel decisions whose date
   * has come, movers' grace periods that ended, access reviews, the inactivity policy. Decisions take effect by the
   * day, so an hour is close enough; one node runs it at a time.
   */
  GOVERNANCE_INTERVAL_SECONDS: z.coerce.number().int().min(1).default(3600),
  /**
   * Days a mover keeps the access that came from their old unit (its app assignments, groups owned
   * there, admin roles over it) after a transfer is applied, to hand over their work. Two weeks
   * covers a handover; 0 ends it at the move.
   */
  MOVER_GRACE_DAYS: z.coerce.number().int().min(0).max(365).default(14),
  /**
   * The province's inactivity policy, where no unit sets its own: a warning mail after this many
   * days without a login, suspension after that many; 0 turns either off. Units override both for
   * their subtree (the admin API's /org-units/{id}/inactivity-policy).
   */
  INACTIVITY_WARN_DAYS: z.coerce.number().int().min(0).max(3650).default(60),
  INACTIVITY_SUSPEND_DAYS: z.coerce.number().int().min(0).max(3650).default(90),
});

export interface Config {
  readonly env: 'development' | 'production' | 'test';
  readonly port: number;
  readonly issuer: string;
  readonly database:
    | { readonly kind: 'postgres'; readonly url: string }
    | { readonly kind: 'pglite'; readonly dataDir: string };
  readonly dataDir: string;
  readonly masterKey: Buffer;
  readonly cookieKeys: readonly string[];
  readonly smtpUrl: string | null;
  readonly mail: { readonly from: string; readonly pollSeconds: number };
  readonly sms: { readonly gatewayUrl: string | null; readonly gatewayToken: string | null };
  readonly logLevel: string;
  readonly trustProxy: boolean;
  readonly argon2: {
    readonly memoryCost: number;
    readonly timeCost: number;
    readonly parallelism: number;
    readonly concurrency: number;
    readonly maxQueue: number;
  };
  readonly outboundAllowedNetworks: readonly string[];
  readonly metrics: { readonly token: string | null; readonly allowedNetworks: readonly string[] };
  readonly loginThrottle: ThrottlePolicy;
  readonly passwordPolicy: PasswordPolicy;
  readonly session: { readonly idleSeconds: number; readonly maxSeconds: number; readonly rememberMe: boolean };
  readonly passkeySignIn: boolean;
  readonly cleanupIntervalSeconds: number;
  readonly keyPublishAheadSeconds: number;
  readonly governance: {
    readonly intervalSeconds: number;
    readonly moverGraceDays: number;
    readonly inactivity: { readonly warnDays: number; readonly suspendDays: number };
  };
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = environmentSchema.safeParse(emptyAsUnset(env));
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => `  ${issue.path.join('.')}: ${issue.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  const production = e.NODE_ENV === 'production';
  const dataDir = path.resolve(e.DATA_DIR);

  if (production && !e.ISSUER) {
    throw new ConfigError('ISSUER: required when NODE_ENV=production (the public https origin, such as https://id.example.gov.vn)');
  }
  if (production && !e.MASTER_KEY) {
    throw new ConfigError('MASTER_KEY: required when NODE_ENV=production (32 random bytes, base64 or hex)');
  }
  if (production && !e.COOKIE_KEYS) {
    throw new ConfigError('COOKIE_KEYS: required when NODE_ENV=production (comma-separated random secrets)');
  }

  // Mekong ID speaks plain HTTP; an https issuer means a TLS-terminating proxy in front, and only by
  // trusting its X-Forwarded-Proto can cookies be marked Secure.
  if (production && e.ISSUER?.startsWith('https:') && !e.TRUST_PROXY) {
    throw new ConfigError('TRUST_PROXY: must be true when ISSUER is https, because TLS ends at the reverse proxy in front of Mekong ID');
  }

  const concurrency = e.ARGON2_CONCURRENCY ?? Math.max(1, Math.min(os.availableParallelism(), e.UV_THREADPOOL_SIZE - 2));

  const masterKey = e.MASTER_KEY ? decodeMasterKey(e.MASTER_KEY) : readOrCreateDevelopmentMasterKey(dataDir);
  const cookieKeys = e.COOKIE_KEYS ? parseCookieKeys(e.COOKIE_KEYS) : [deriveDevelopmentCookieKey(masterKey)];

  return deepFreeze({
    env: e.NODE_ENV,
    port: e.PORT,
    issuer: e.ISSUER ?? `http://localhost:${e.PORT}`,
    database: e.DATABASE_URL ? { kind: 'postgres', url: e.DATABASE_URL } : { kind: 'pglite', dataDir },
    dataDir,
    masterKey,
    cookieKeys,
    smtpUrl: e.SMTP_URL ?? null,
    mail: {
      from: e.MAIL_FROM ?? `Mekong ID <no-reply@${new URL(e.ISSUER ?? 'http://localhost').hostname}>`,
      pollSeconds: e.MAIL_POLL_SECONDS,
    },
    sms: { gatewayUrl: e.SMS_GATEWAY_URL ?? null, gatewayToken: e.SMS_GATEWAY_TOKEN ?? null },
    logLevel: e.LOG_LEVEL,
    trustProxy: e.TRUST_PROXY,
    argon2: {
      memoryCost: e.ARGON2_MEMORY_KIB,
      timeCost: e.ARGON2_TIME_COST,
      parallelism: e.ARGON2_PARALLELISM,
      concurrency,
      maxQueue: e.ARGON2_MAX_QUEUE ?? 50 * concurrency,
    },
    outboundAllowedNetworks: e.OUTBOUND_ALLOWED_NETWORKS ?? (production ? [] : loopback),
    metrics: {
      token: e.METRICS_TOKEN ?? null,
      allowedNetworks: e.METRICS_ALLOWED_NETWORKS ?? (production ? [] : loopback),
    },
    passwordPolicy: { minLength: e.PASSWORD_MIN_LENGTH, maxAgeDays: e.PASSWORD_MAX_AGE_DAYS },
    loginThrottle: {
      delayAfterFailures: e.LOGIN_DELAY_AFTER_FAILURES,
      maxDelaySeconds: e.LOGIN_MAX_DELAY_SECONDS,
      lockoutThreshold: e.LOGIN_LOCKOUT_THRESHOLD,
      lockoutSeconds: e.LOGIN_LOCKOUT_SECONDS,
      windowSeconds: e.LOGIN_FAILURE_WINDOW_SECONDS,
      addressMaxFailures: e.LOGIN_ADDRESS_MAX_FAILURES,
    },
    session: { idleSeconds: Math.min(e.SESSION_IDLE_SECONDS, e.SESSION_MAX_SECONDS), maxSeconds: e.SESSION_MAX_SECONDS, rememberMe: e.SESSION_REMEMBER_ME },
    passkeySignIn: e.PASSKEY_SIGN_IN,
    cleanupIntervalSeconds: e.CLEANUP_INTERVAL_SECONDS,
    keyPublishAheadSeconds: e.KEY_PUBLISH_AHEAD_SECONDS,
    governance: {
      intervalSeconds: e.GOVERNANCE_INTERVAL_SECONDS,
      moverGraceDays: e.MOVER_GRACE_DAYS,
      inactivity: { warnDays: e.INACTIVITY_WARN_DAYS, suspendDays: e.INACTIVITY_SUSPEND_DAYS },
    },
  } satisfies Config);
}

const loopback = ['127.0.0.0/8', '::1/128'];

/** Shells and service managers often export `VAR=`; treat that as unset rather than as a bad value. */
function emptyAsUnset(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) {
    if (value !== undefined && value !== '') out[key] = value;
  }
  return out;
}

function decodeMasterKey(value: string): Buffer {
  const trimmed = value.trim();
  const key = /^[0-9a-f]{64}$/i.test(trimmed) ? Buffer.from(trimmed, 'hex') : Buffer.from(trimmed, 'base64');
  if (key.length !== 32) {
    throw new ConfigError('MASTER_KEY: must be 32 bytes, given as 64 hex digits or base64');
  }
  return key;
}

function parseCookieKeys(value: string): string[] {
  const keys = value.split(',').map((key) => key.trim()).filter(Boolean);
  if (keys.some((key) => key.length < 32)) {
    throw new ConfigError('COOKIE_KEYS: each key must be at least 32 characters');
  }
  return keys;
}

/** HKDF keeps the development cookie key independent of the key-encryption key it comes from. */
function deriveDevelopmentCookieKey(masterKey: Buffer): string {
  return Buffer.from(hkdfSync('sha256', masterKey, Buffer.alloc(0), 'mekong-id cookie key', 32)).toString('base64url');
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Buffer.isBuffer(value)) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
