import argon2 from 'argon2';
import { describe, expect, it, vi } from 'vitest';

import { createPasswordHasher, type Argon2Parameters } from '../../src/domain/passwords.ts';

// The cheapest parameters the hasher accepts keep these tests fast; only the rehash test needs two
// different sets, and the encoded hash says which one made it.
const cheap: Argon2Parameters = { memoryCost: 8192, timeCost: 1, parallelism: 1, concurrency: 2 };
const password = 'mật khẩu đủ dài 2026';

/** The fields of an argon2 PHC string: $argon2id$v=19$m=…,t=…,p=…$salt$hash */
function describeHash(encoded: string) {
  const [, type, version, parameters, salt, hash] = encoded.split('$');
  const values = new Map((parameters ?? '').split(',').map((pair) => pair.split('=') as [string, string]));
  return { type, version, memoryCost: Number(values.get('m')), timeCost: Number(values.get('t')), parallelism: Number(values.get('p')), salt, hash };
}

describe('hash', () => {
  it('produces an argon2id hash with the configured parameters and a random salt', async () => {
    const hasher = createPasswordHasher({ memoryCost: 9216, timeCost: 2, parallelism: 2, concurrency: 1 });
    const first = await hasher.hash(password);
    const second = await hasher.hash(password);
    expect(describeHash(first)).toMatchObject({ type: 'argon2id', version: 'v=19', memoryCost: 9216, timeCost: 2, parallelism: 2 });
    expect(first).not.toContain(password);
    expect(describeHash(first).salt).not.toBe(describeHash(second).salt);
    expect(first).not.toBe(second);
  });
});

describe('verify', () => {
  const hasher = createPasswordHasher(cheap);

  it('accepts the right password without asking for a rehash when the parameters are current', async () => {
    const stored = await hasher.hash(password);
    expect(await hasher.verify(stored, password)).toEqual({ ok: true, rehashed: null });
  });

  it('refuses a wrong password, the right one in other case, and an empty one', async () => {
    const stored = await hasher.hash(password);
    expect(await hasher.verify(stored, 'wrong password 2026')).toEqual({ ok: false, rehashed: null });
    expect(await hasher.verify(stored, password.toUpperCase())).toEqual({ ok: false, rehashed: null });
    expect(await hasher.verify(stored, '')).toEqual({ ok: false, rehashed: null });
  });

  it('accepts the same Vietnamese password typed composed or decomposed', async () => {
    const stored = await hasher.hash(password.normalize('NFD'));
    expect(password.normalize('NFD')).not.toBe(password.normalize('NFC'));
    expect((await hasher.verify(stored, password.normalize('NFC'))).ok).toBe(true);
    expect((await hasher.verify(await hasher.hash(password.normalize('NFC')), password.normalize('NFD'))).ok).toBe(true);
  });

  it('refuses, without throwing, when there is no stored hash (an unknown user)', async () => {
    expect(await hasher.verify(null, password)).toEqual({ ok: false, rehashed: null });
    // The equalizing hash it verifies against must not become a password that works for unknown users.
    expect(await hasher.verify(null, 'mekong-id timing equalizer')).toEqual({ ok: false, rehashed: null });
  });

  it('accepts a hash made with weaker parameters and returns a rehash made with the current ones', async () => {
    const weaker = createPasswordHasher(cheap);
    const current = createPasswordHasher({ ...cheap, memoryCost: 9216, timeCost: 2 });
    const old = await weaker.hash(password);

    const verdict = await current.verify(old, password);
    expect(verdict.ok).toBe(true);
    expect(verdict.rehashed).not.toBeNull();
    expect(describeHash(verdict.rehashed!)).toMatchObject({ type: 'argon2id', memoryCost: 9216, timeCost: 2, parallelism: 1 });
    expect(await current.verify(verdict.rehashed, password)).toEqual({ ok: true, rehashed: null });
  });

  it('does not rehash on a wrong password against an old hash', async () => {
    const old = await createPasswordHasher(cheap).hash(password);
    const current = createPasswordHasher({ ...cheap, timeCost: 2 });
    expect(await current.verify(old, 'wrong password 2026')).toEqual({ ok: false, rehashed: null });
  });
});

describe('an unknown user', () => {
  it('costs a full argon2 verification, like a wrong password, so timing cannot reveal which usernames exist', async () => {
    const hasher = createPasswordHasher(cheap);
    await hasher.hash(password); // the equalizing hash is made at creation; let it finish first
    const verify = vi.spyOn(argon2, 'verify');
    try {
      await hasher.verify(null, password);
      expect(verify).toHaveBeenCalledTimes(1);
      expect(verify.mock.calls[0]![0]).toMatch(/^\$argon2id\$/);
    } finally {
      verify.mockRestore();
    }
  });
});

describe('concurrency cap', () => {
  it('queues verifications beyond the cap and drains the queue when they finish', async () => {
    const hasher = createPasswordHasher({ ...cheap, concurrency: 1 });
    const stored = await hasher.hash(password);
    expect(hasher.queueDepth).toBe(0);

    const running = [
      hasher.verify(stored, password),
      hasher.verify(stored, 'wrong password 2026'),
      hasher.verify(stored, password),
      hasher.verify(stored, password),
    ];
    // One verification holds the only slot; the other three wait their turn.
    expect(hasher.queueDepth).toBeGreaterThan(0);

    const verdicts = await Promise.all(running);
    expect(verdicts.map((verdict) => verdict.ok)).toEqual([true, false, true, true]);
    expect(hasher.queueDepth).toBe(0);
  });

  it('refuses work as busy (503) once the queue is full, instead of letting it grow without bound', async () => {
    const hasher = createPasswordHasher({ ...cheap, concurrency: 1, maxQueue: 2 });
    const stored = await hasher.hash(password);
    const results = await Promise.allSettled([1, 2, 3, 4, 5].map(() => hasher.verify(stored, password)));
    const refused = results.filter((result) => result.status === 'rejected');
    expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(3);
    expect(refused).toHaveLength(2);
    expect((refused[0] as PromiseRejectedResult).reason).toMatchObject({ code: 'busy', status: 503, expose: true });
    expect((await hasher.verify(stored, password)).ok).toBe(true);
  });
});
