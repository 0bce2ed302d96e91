import autocannon from 'autocannon';

import { createLatencyRecorder, type LatencyRecorder, type LoadResult, type Timing } from './latency.ts';

export interface SingleRequestLoad extends Timing {
  /** The server's origin, such as http://127.0.0.1:3000. */
  readonly origin: string;
  readonly connections: number;
  /** Sent in turn on every connection; more than one spreads the load over several tokens or queries. */
  readonly requests: readonly autocannon.Request[];
}

/**
 * Independent requests, as many as the connections can carry (autocannon, one request in flight
 * per connection). Only 2xx answers count as done; anything else is a failure with its status.
 * Scenarios probe their request once before the load (see scenarios/probe.ts), so a failure's body
 * has been seen already and is not kept here.
 */
export async function runSingleRequests(load: SingleRequestLoad): Promise<LoadResult> {
  // A warm-up of its own: requests take milliseconds, so the edges of a run lose next to nothing.
  await runAutocannon(load, load.warmupSeconds, createLatencyRecorder());
  const recorder = createLatencyRecorder();
  return recorder.result(await runAutocannon(load, load.durationSeconds, recorder));
}

/** One autocannon run, recording into `recorder`; answers how long it actually ran, in seconds. */
export async function runAutocannon(load: Omit<SingleRequestLoad, keyof Timing>, seconds: number, recorder: LatencyRecorder): Promise<number> {
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon({
      url: load.origin,
      connections: load.connections,
      duration: seconds,
      requests: [...load.requests],
      timeout: 30,
    }, (error: unknown, done) => (error ? reject(error instanceof Error ? error : new Error('autocannon failed', { cause: error })) : resolve(done)));
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      if (statusCode >= 200 && statusCode < 300) recorder.succeeded(responseTime);
      else recorder.failed(`HTTP ${statusCode}`);
    });
    instance.on('reqError', (error: unknown) => recorder.failed(error instanceof Error ? error.message : String(error)));
  });
  return result.duration;
}
