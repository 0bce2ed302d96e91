import os from 'node:os';

import type { Config } from '../../src/config/index.ts';
import { createPasswordHasher } from '../../src/domain/passwords.ts';
import { runClosedLoop } from '../load/closed-loop.ts';
import { warmThenMeasure, type Measurement, type Timing } from './measurement.ts';

/**
 * The login's physical limit: how many argon2id verifications per second this machine does with
 * the server's parameters, one at a time on every core. Measured in the bench process through the
 * server's own hasher, while the server idles, so nothing else competes for the cores.
 */
export async function measureArgon2Ceiling(parameters: Config['argon2'], timing: Timing): Promise<Measurement> {
  const cores = os.availableParallelism();
  const hasher = createPasswordHasher({ ...parameters, concurrency: cores, maxQueue: Number.POSITIVE_INFINITY });
  const password = 'mật khẩu đo trần argon2';
  const stored = await hasher.hash(password);
  // Two waiting per core, so that a core never waits for the event loop to hand it the next hash.
  const workers = Array.from({ length: cores * 2 }, (_, index) => index);
  const verify = async () => {
    const verdict = await hasher.verify(stored, password);
    if (!verdict.ok) throw new Error('argon2 refused the password it had just hashed');
  };
  const { load, cpu } = await warmThenMeasure(null, timing, (window) => runClosedLoop(workers, window, verify));
  return {
    id: 'argon2_ceiling',
    title: `argon2id verify ceiling (${parameters.memoryCost} KiB, t=${parameters.timeCost}, p=${parameters.parallelism}) on ${cores} cores`,
    unit: 'verifications',
    concurrency: cores,
    load,
    peakRssBytes: null,
    cpu,
  };
}
