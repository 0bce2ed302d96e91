import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import {
  admitLoginAttempt,
  checkLoginThrottle,
  pairDelaySeconds,
  recordLoginFailure,
  recordLoginSuccess,
  unlockLogins,
  type ThrottlePolicy,
} from '../../src/domain/login-throttle.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';

const policy: ThrottlePolicy = {
  delayAfterFailures: 3,
  maxDelaySeconds: 3600,
  lockoutThreshold: 6,
  lockoutSeconds: 900,
  windowSeconds: 900,
  addressMaxFailures: 20,
};

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase();
});

afterAll(async () => {
  await database.close();
});

beforeEach(async () => {
  await database.db.deleteFrom('login_throttle').execute();
});

const at = (seconds: number) => new Date(Date.UTC(2026, 10, 26, 8, 0, 0) + seconds * 1000);
const check = (login: string, ip: string, seconds: number) => checkLoginThrottle(database.db, { login, ip }, policy, at(seconds));
/** A wrong password as the server meets it: admitted (or not), then counted as a failure; the lock it set, if any. */
async function fail(login: string, ip: string, seconds: number) {
  const admitted = await admitLoginAttempt(database.db, { login, ip }, policy, at(seconds));
  return admitted.allowed ? recordLoginFailure(database.db, { login, ip }, policy, at(seconds)) : null;
}

describe('the delay between attempts from one address against one name', () => {
  it('is nothing for the first failures, then doubles up to the longest delay', () => {
    expect([1, 2, 3, 4, 5, 6, 10, 20, 40].map((failures) => pairDelaySeconds(failures, policy))).toEqual([0, 0, 1, 2, 4, 8, 128, 3600, 3600]);
  });

  it('refuses an attempt made before the delay has passed, and allows it after', async () => {
    for (let n = 0; n < 4; n += 1) await fail('nguyenvana', '203.0.113.7', n);
    // Four failures: two seconds after the last one.
    expect(await check('nguyenvana', '203.0.113.7', 4)).toEqual({ allowed: false, reason: 'delayed', retryAfterSeconds: 1 });
    expect(await check('nguyenvana', '203.0.113.7', 5)).toEqual({ allowed: true });
  });

  it('lets in an attempt below the threshold that a concurrent attempt, its clock read a moment later, reserved ahead of it', async () => {
    // Two sign-ins at once from one address: the later one's reservation is stored first, with its own, later instant.
    expect(await admitLoginAttempt(database.db, { login: 'tranvanbinh', ip: '203.0.113.7' }, policy, at(0.05))).toEqual({ allowed: true });
    expect(await admitLoginAttempt(database.db, { login: 'tranvanbinh', ip: '203.0.113.7' }, policy, at(0))).toEqual({ allowed: true });
  });

  it('treats the name without regard to case or Unicode form, and leaves other addresses and names alone', async () => {
    for (let n = 0; n < 5; n += 1) await fail('Đặng.Lâm'.normalize('NFD'), '203.0.113.7', n);
    expect((await check('đặng.lâm', '203.0.113.7', 4)).allowed).toBe(false);
    expect(await check('đặng.lâm', '198.51.100.9', 4)).toEqual({ allowed: true });
    expect(await check('tranthib', '203.0.113.7', 4)).toEqual({ allowed: true });
  });

  it('does not forget a patient address: waiting out a delay does not restart it at full speed', async () => {
    let seconds = 0;
    for (let n = 0; n < 12; n += 1) {
      const verdict = await check('lethic', '203.0.113.7', seconds);
      if (!verdict.allowed) seconds += verdict.retryAfterSeconds;
      await fail('lethic', '203.0.113.7', seconds);
    }
    const next = await check('lethic', '203.0.113.7', seconds);
    expect(next).toMatchObject({ allowed: false, reason: 'delayed' });
    expect(!next.allowed && next.retryAfterSeconds).toBeGreaterThanOrEqual(512);
  });
});

describe('locking a name', () => {
  it('never happens from one address alone, however many failures it makes', async () => {
    for (let n = 0; n < 30; n += 1) expect(await fail('phamvand', '203.0.113.7', n * 10)).toBeNull();
    expect(await check('phamvand', '198.51.100.9', 400)).toEqual({ allowed: true });
  });

  it('happens when the failures come from two addresses, for the configured time, and says so once', async () => {
    const locks = [];
    for (let n = 0; n < 6; n += 1) locks.push(await fail('hoangthie', n % 2 === 0 ? '203.0.113.7' : '198.51.100.9', n));
    expect(locks.slice(0, 5)).toEqual([null, null, null, null, null]);
    expect(locks[5]).toMatchObject({ lockedUntil: at(5 + 900), addresses: 2, failures: 6 });
    // The person's own address is refused too, until the lock runs out.
    expect(await check('hoangthie', '192.0.2.1', 10)).toEqual({ allowed: false, reason: 'locked', retryAfterSeconds: 895 });
    expect(await fail('hoangthie', '192.0.2.44', 11)).toBeNull();
    expect(await check('hoangthie', '192.0.2.1', 906)).toEqual({ allowed: true });
  });

  it('does not happen when one address did the failing and the person merely mistyped once from their own', async () => {
    let seconds = 0;
    for (let n = 0; n < 9; n += 1) {
      const verdict = await check('ngovani', '203.0.113.7', seconds);
      if (!verdict.allowed) seconds += verdict.retryAfterSeconds;
      await fail('ngovani', '203.0.113.7', seconds);
    }
    expect(await fail('ngovani', '192.0.2.1', seconds)).toBeNull();
    expect(await check('ngovani', '192.0.2.1', seconds)).toEqual({ allowed: true });
  });

  it('is lifted by an unlock, with every count under the name forgotten', async () => {
    for (let n = 0; n < 6; n += 1) await fail('vothif', n % 2 === 0 ? '203.0.113.7' : '198.51.100.9', n);
    expect((await check('vothif', '192.0.2.1', 10)).allowed).toBe(false);
    expect(await unlockLogins(database.db, ['VoThiF'])).toBeGreaterThan(0);
    expect(await check('vothif', '203.0.113.7', 10)).toEqual({ allowed: true });
  });
});

describe('attempts sent at the same moment', () => {
  it('let through no more guesses than the delay allows', async () => {
    const verdicts = await Promise.all(Array.from({ length: 8 }, () => admitLoginAttempt(database.db, { login: 'dothih', ip: '203.0.113.7' }, policy, at(0))));
    // Three are admitted before the delay starts; the rest wait, even though none has failed yet.
    expect(verdicts.filter((verdict) => verdict.allowed)).toHaveLength(3);
  });
});

describe('a correct password', () => {
  it('restarts the count of its own address and the name, not the counts of other addresses', async () => {
    for (let n = 0; n < 5; n += 1) await fail('buivang', '203.0.113.7', 0);
    for (let n = 0; n < 5; n += 1) await fail('buivang', '198.51.100.9', 0);
    await recordLoginSuccess(database.db, { login: 'buivang', ip: '198.51.100.9' });
    expect(await check('buivang', '198.51.100.9', 0)).toEqual({ allowed: true });
    expect((await check('buivang', '203.0.113.7', 0)).allowed).toBe(false);
  });
});

describe('an address spraying many names', () => {
  it('waits for the end of its window once it has failed too often, whatever name it tries next', async () => {
    for (let n = 0; n < 20; n += 1) await fail(`nguoi${n}`, '203.0.113.66', n);
    expect(await check('someone-new', '203.0.113.66', 30)).toEqual({ allowed: false, reason: 'delayed', retryAfterSeconds: 870 });
    expect(await check('someone-new', '198.51.100.9', 30)).toEqual({ allowed: true });
  });
});
