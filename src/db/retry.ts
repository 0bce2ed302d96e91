import { setTimeout as sleep } from 'node:timers/promises';

import type { Logger } from '../logger.ts';
import { isDatabaseUnavailable } from './errors.ts';

/** The first retry comes after half a second; each wait doubles, up to this. */
const maxRetryDelayMs = 10_000;

/**
 * Runs `task` until it gets through, waiting longer after each attempt that failed because the
 * database was unreachable (down, restarting, not accepting connections yet). Any other error, a
 * failed migration or a wrong MASTER_KEY, is not cured by waiting and is thrown at once. An abort
 * (a SIGTERM while still waiting) ends the wait with the signal's reason.
 */
export async function retryWhileDatabaseUnavailable<T>(
  task: () => Promise<T>,
  options: { logger: Logger; what: string; signal?: AbortSignal | undefined },
): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    options.signal?.throwIfAborted();
    try {
      return await task();
    } catch (error) {
      if (!isDatabaseUnavailable(error)) throw error;
      const delayMs = Math.min(500 * 2 ** (attempt - 1), maxRetryDelayMs);
      options.logger.warn(
        { attempt, retryInMs: delayMs, err: error instanceof Error ? error.message : String(error) },
        `the database is unreachable (${options.what}); retrying`,
      );
      await sleep(delayMs, undefined, options.signal ? { signal: options.signal } : undefined);
    }
  }
}
