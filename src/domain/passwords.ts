import argon2 from 'argon2';
import pLimit from 'p-limit';

import { AppError } from '../errors.ts';

export interface Argon2Parameters {
  readonly memoryCost: number;
  readonly timeCost: number;
  readonly parallelism: number;
  /** Hashes allowed to run at once; the rest wait in a queue. */
  readonly concurrency: number;
  /** Hashes allowed to wait; one more is refused as busy. Unset: no bound. */
  readonly maxQueue?: number;
}

export interface PasswordVerdict {
  readonly ok: boolean;
  /** The hash was made with other parameters: store a fresh one now that we hold the password. */
  readonly rehashed: string | null;
}

export interface PasswordHasher {
  hash(password: string): Promise<string>;
  /**
   * Verifies a password against a stored hash. With no stored hash (an unknown user, or one who has
   * never set a password) it still spends one full verification, so the answer takes the same time
   * and nobody can tell which usernames exist.
   */
  verify(storedHash: string | null, password: string): Promise<PasswordVerdict>;
  /** Hashes waiting for a slot (for the metrics endpoint, and for refusing work beyond maxQueue). */
  readonly queueDepth: number;
}

/** Too many hashes are waiting: the answer is "try again shortly", not an ever longer queue. */
export const passwordHasherBusy = () =>
  new AppError('busy', 'too many sign-ins are being checked right now; try again in a few seconds', 503, { expose: true });

/**
 * The same Vietnamese password typed on two keyboards can arrive composed ("ế" as one code point)
 * or decomposed ("e" plus two marks). NIST SP 800-63B asks verifiers to normalize, so both hash alike.
 */
const normalizePassword = (password: string) => password.normalize('NFKC');

export function createPasswordHasher(parameters: Argon2Parameters): PasswordHasher {
  const options = {
    type: argon2.argon2id,
    memoryCost: parameters.memoryCost,
    timeCost: parameters.timeCost,
    parallelism: parameters.parallelism,
  } as const;
  // argon2 runs on libuv's thread pool. Capping concurrent hashes near the core count keeps a burst
  // of logins from queueing behind each other inside libuv, where they would also delay the signing
  // that token requests need.
  const limit = pLimit(parameters.concurrency);
  const maxQueue = parameters.maxQueue ?? Number.POSITIVE_INFINITY;
  const limited = <T>(work: () => Promise<T>): Promise<T> =>
    limit.pendingCount >= maxQueue ? Promise.reject(passwordHasherBusy()) : limit(work);

  const hash = (password: string) => limited(() => argon2.hash(normalizePassword(password), options));
  // Made up front, so that the first unknown-user login costs what every other one does.
  const equalizer = hash('mekong-id timing equalizer');
  equalizer.catch(() => undefined); // a failure surfaces where it is awaited, not as an unhandled rejection

  return {
    hash,
    async verify(storedHash, password) {
      if (storedHash === null) {
        const dummy = await equalizer;
        await limited(() => argon2.verify(dummy, normalizePassword(password)));
        return { ok: false, rehashed: null };
      }
      const ok = await limited(() => argon2.verify(storedHash, normalizePassword(password)));
      if (!ok) return { ok: false, rehashed: null };
      // The person is already through: a full queue must not turn their success into "busy".
      const rehashed = argon2.needsRehash(storedHash, options)
        ? await limit(() => argon2.hash(normalizePassword(password), options))
        : null;
      return { ok: true, rehashed };
    },
    get queueDepth() {
      return limit.pendingCount;
    },
  };
}
