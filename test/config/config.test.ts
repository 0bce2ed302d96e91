import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import { ConfigError, loadConfig } from '../../src/config/index.ts';

// Every test passes its environment explicitly: the process's own environment (NODE_ENV=test from
// vitest, whatever the developer exported) must not decide what these tests see.

const hexKey = randomBytes(32).toString('hex');
const cookieKey = randomBytes(32).toString('base64url');

const temporaryDirectories: string[] = [];
function temporaryDataDir(): string {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'mekong-id-config-'));
  temporaryDirectories.push(directory);
  return directory;
}

afterEach(() => {
  for (const directory of temporaryDirectories.splice(0)) fs.rmSync(directory, { recursive: true, force: true });
});

/** The ConfigError that loading `env` throws; fails the test when loading succeeds. */
function configErrorOf(env: NodeJS.ProcessEnv): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(env)}`);
}

describe('defaults', () => {
  it('listens on port 3000, names itself http://localhost:3000 and uses PGlite in ./data resolved to an absolute path', () => {
    const config = loadConfig({ MASTER_KEY: hexKey });
    expect(config.env).toBe('development');
    expect(config.port).toBe(3000);
    expect(config.issuer).toBe('http://localhost:3000');
    expect(config.database).toEqual({ kind: 'pglite', dataDir: path.resolve('./data') });
    expect(path.isAbsolute(config.dataDir)).toBe(true);
    expect(config.smtpUrl).toBeNull();
    expect(config.logLevel).toBe('info');
  });

  it('derives the default issuer from PORT', () => {
    const config = loadConfig({ MASTER_KEY: hexKey, PORT: '8443' });
    expect(config.port).toBe(8443);
    expect(config.issuer).toBe('http://localhost:8443');
  });

  it('uses PostgreSQL when DATABASE_URL is set', () => {
    const url = 'postgres://mekong@db.internal:5432/mekong';
    expect(loadConfig({ MASTER_KEY: hexKey, DATABASE_URL: url }).database).toEqual({ kind: 'postgres', url });
  });

  it('allows outbound calls to loopback outside production, and to no private network in production', () => {
    expect(loadConfig({ MASTER_KEY: hexKey }).outboundAllowedNetworks).toEqual(['127.0.0.0/8', '::1/128']);
    const production = loadConfig({ ...productionIssuer, MASTER_KEY: hexKey, COOKIE_KEYS: cookieKey });
    expect(production.outboundAllowedNetworks).toEqual([]);
  });
});

describe('a bad value stops start-up with a message naming the variable', () => {
  it.each([
    ['PORT', 'not-a-number'],
    ['PORT', '70000'],
    ['PORT', '30.5'],
    ['ISSUER', 'https://id.tiengiang.gov.vn/'],
    ['ISSUER', 'https://id.tiengiang.gov.vn/sso'],
    ['ISSUER', 'ftp://id.tiengiang.gov.vn'],
    ['ISSUER', 'not a url'],
    ['ISSUER', 'https://id.tiengiang.gov.vn?x=1'],
    ['DATABASE_URL', 'mysql://root@localhost/mekong'],
    ['LOG_LEVEL', 'verbose'],
    ['OUTBOUND_ALLOWED_NETWORKS', '10.0.0.0/8,intranet'],
    ['OUTBOUND_ALLOWED_NETWORKS', '10.0.0.1'],
    ['METRICS_TOKEN', 'too-short'],
    ['METRICS_ALLOWED_NETWORKS', 'prometheus.internal'],
  ])('%s=%s', (variable, value) => {
    const error = configErrorOf({ MASTER_KEY: hexKey, [variable]: value });
    expect(error.message).toContain(variable);
  });

  it('opens /metrics to loopback by default outside production, and to no one by default in production', () => {
    expect(loadConfig({ MASTER_KEY: hexKey }).metrics).toEqual({ token: null, allowedNetworks: ['127.0.0.0/8', '::1/128'] });
    const production = loadConfig({
      NODE_ENV: 'production', ISSUER: 'http://id.internal:3000', MASTER_KEY: hexKey, COOKIE_KEYS: 'k'.repeat(32),
    });
    expect(production.metrics).toEqual({ token: null, allowedNetworks: [] });
  });

  it('accepts a list of IPv4 and IPv6 networks in OUTBOUND_ALLOWED_NETWORKS', () => {
    const config = loadConfig({ MASTER_KEY: hexKey, OUTBOUND_ALLOWED_NETWORKS: '10.0.0.0/8, 192.168.0.0/16,fd00::/8' });
    expect(config.outboundAllowedNetworks).toEqual(['10.0.0.0/8', '192.168.0.0/16', 'fd00::/8']);
  });
});

/** A production environment with its issuer behind a trusted TLS proxy: the other rules are tested against it. */
const productionIssuer = { NODE_ENV: 'production', ISSUER: 'https://id.tiengiang.gov.vn', TRUST_PROXY: 'true' };

describe('password hashing limits', () => {
  it('leaves two of libuv\u2019s threads for token signing, and bounds the queue at 50 per slot', () => {
    const config = loadConfig({ MASTER_KEY: hexKey, UV_THREADPOOL_SIZE: '4' });
    expect(config.argon2.concurrency).toBeLessThanOrEqual(2);
    expect(config.argon2.concurrency).toBeGreaterThanOrEqual(1);
    expect(config.argon2.maxQueue).toBe(50 * config.argon2.concurrency);
    expect(loadConfig({ MASTER_KEY: hexKey, ARGON2_CONCURRENCY: '3', ARGON2_MAX_QUEUE: '7' }).argon2).toMatchObject({ concurrency: 3, maxQueue: 7 });
  });
});

describe('production', () => {
  it('refuses to start without ISSUER rather than guess a localhost one', () => {
    const error = configErrorOf({ NODE_ENV: 'production', MASTER_KEY: hexKey, COOKIE_KEYS: cookieKey });
    expect(error.message).toMatch(/^ISSUER/);
  });

  it('refuses to start without MASTER_KEY', () => {
    const error = configErrorOf({ ...productionIssuer, COOKIE_KEYS: cookieKey });
    expect(error.message).toMatch(/^MASTER_KEY/);
  });

  it('refuses to start without COOKIE_KEYS', () => {
    const error = configErrorOf({ ...productionIssuer, MASTER_KEY: hexKey });
    expect(error.message).toMatch(/^COOKIE_KEYS/);
  });

  it('does not generate a master key file even when DATA_DIR is writable', () => {
    const dataDir = temporaryDataDir();
    configErrorOf({ ...productionIssuer, COOKIE_KEYS: cookieKey, DATA_DIR: dataDir });
    expect(fs.existsSync(path.join(dataDir, 'master.key'))).toBe(false);
  });

  it('refuses an https issuer unless TRUST_PROXY says a TLS proxy sits in front', () => {
    const env = { NODE_ENV: 'production', MASTER_KEY: hexKey, COOKIE_KEYS: cookieKey, ISSUER: 'https://id.tiengiang.gov.vn' };
    expect(configErrorOf(env).message).toMatch(/^TRUST_PROXY/);
    expect(loadConfig({ ...env, TRUST_PROXY: 'true' })).toMatchObject({ issuer: 'https://id.tiengiang.gov.vn', trustProxy: true });
  });

  it('starts with both, keeping every cookie key in order', () => {
    const older = randomBytes(32).toString('base64url');
    const config = loadConfig({ ...productionIssuer, MASTER_KEY: hexKey, COOKIE_KEYS: `${cookieKey}, ${older}` });
    expect(config.env).toBe('production');
    expect(config.cookieKeys).toEqual([cookieKey, older]);
  });
});

describe('MASTER_KEY', () => {
  it('is accepted as 64 hex digits', () => {
    const key = randomBytes(32);
    expect(loadConfig({ MASTER_KEY: key.toString('hex') }).masterKey.equals(key)).toBe(true);
    expect(loadConfig({ MASTER_KEY: key.toString('hex').toUpperCase() }).masterKey.equals(key)).toBe(true);
  });

  it('is accepted as base64 of 32 bytes', () => {
    const key = randomBytes(32);
    expect(loadConfig({ MASTER_KEY: key.toString('base64') }).masterKey.equals(key)).toBe(true);
  });

  it.each([
    ['16 bytes of base64', randomBytes(16).toString('base64')],
    ['48 bytes of base64', randomBytes(48).toString('base64')],
    ['62 hex digits', randomBytes(31).toString('hex')],
    ['a passphrase', 'correct horse battery staple'],
  ])('is refused as %s', (_description, value) => {
    const error = configErrorOf({ MASTER_KEY: value });
    expect(error.message).toContain('MASTER_KEY');
  });
});

describe('COOKIE_KEYS', () => {
  it('refuses a key shorter than 32 characters, naming the variable', () => {
    const error = configErrorOf({ MASTER_KEY: hexKey, COOKIE_KEYS: `${cookieKey},short-secret` });
    expect(error.message).toContain('COOKIE_KEYS');
  });

  it('is derived from MASTER_KEY in development, differently from the key itself', () => {
    const first = loadConfig({ MASTER_KEY: hexKey });
    const again = loadConfig({ MASTER_KEY: hexKey });
    const other = loadConfig({ MASTER_KEY: randomBytes(32).toString('hex') });
    expect(first.cookieKeys).toHaveLength(1);
    expect(first.cookieKeys).toEqual(again.cookieKeys);
    expect(first.cookieKeys).not.toEqual(other.cookieKeys);
    expect(first.cookieKeys[0]).not.toContain(hexKey);
    expect(first.cookieKeys[0]).not.toBe(first.masterKey.toString('base64url'));
  });
});

describe('an empty string counts as unset', () => {
  it('for PORT, DATABASE_URL, ISSUER and LOG_LEVEL, which take their defaults', () => {
    const config = loadConfig({ MASTER_KEY: hexKey, PORT: '', DATABASE_URL: '', ISSUER: '', LOG_LEVEL: '' });
    expect(config.port).toBe(3000);
    expect(config.database.kind).toBe('pglite');
    expect(config.issuer).toBe('http://localhost:3000');
    expect(config.logLevel).toBe('info');
  });

  it('for MASTER_KEY in production, which is then missing', () => {
    const error = configErrorOf({ ...productionIssuer, MASTER_KEY: '', COOKIE_KEYS: cookieKey });
    expect(error.message).toMatch(/^MASTER_KEY/);
  });
});

describe('the configuration object', () => {
  it('is frozen all the way down', () => {
    const config = loadConfig({ MASTER_KEY: hexKey, COOKIE_KEYS: cookieKey });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.database)).toBe(true);
    expect(Object.isFrozen(config.argon2)).toBe(true);
    expect(Object.isFrozen(config.cookieKeys)).toBe(true);
    expect(Object.isFrozen(config.outboundAllowedNetworks)).toBe(true);
    expect(() => {
      (config as { port: number }).port = 80;
    }).toThrow(TypeError);
    expect(() => {
      (config.argon2 as { memoryCost: number }).memoryCost = 8192;
    }).toThrow(TypeError);
    expect(() => (config.cookieKeys as string[]).push('an attacker key of at least 32 chars')).toThrow(TypeError);
    expect(config.port).toBe(3000);
    expect(config.cookieKeys).toEqual([cookieKey]);
  });
});

describe('the development master key', () => {
  it('is generated into DATA_DIR with mode 0600 when MASTER_KEY is unset, and reused on the next load', () => {
    const dataDir = temporaryDataDir();
    const keyFile = path.join(dataDir, 'master.key');

    const first = loadConfig({ DATA_DIR: dataDir });
    expect(first.masterKey).toHaveLength(32);
    expect(fs.statSync(keyFile).mode & 0o777).toBe(0o600);

    const second = loadConfig({ DATA_DIR: dataDir });
    expect(second.masterKey.equals(first.masterKey)).toBe(true);
    expect(second.cookieKeys).toEqual(first.cookieKeys);
  });

  it('creates DATA_DIR when it does not exist yet', () => {
    const dataDir = path.join(temporaryDataDir(), 'nested', 'data');
    loadConfig({ DATA_DIR: dataDir });
    expect(fs.existsSync(path.join(dataDir, 'master.key'))).toBe(true);
  });

  it('is a different key in a different DATA_DIR', () => {
    const one = loadConfig({ DATA_DIR: temporaryDataDir() });
    const other = loadConfig({ DATA_DIR: temporaryDataDir() });
    expect(one.masterKey.equals(other.masterKey)).toBe(false);
  });
});
