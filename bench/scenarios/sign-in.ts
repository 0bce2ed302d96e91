import os from 'node:os';

import { runClosedLoop } from '../load/closed-loop.ts';
import { signIn } from '../load/relying-party.ts';
import { warmThenMeasure, type Measurement, type Timing } from './measurement.ts';
import type { MekongIdTarget } from './target.ts';

/** What a province app asks for: who the person is, and a refresh token to stay signed in with. */
const appScope = 'openid profile email offline_access';

/**
 * Sign-ins in flight. The server hashes at most one password per core at a time and queues the
 * rest; four per core keeps that queue fed while the other steps of each sign-in run.
 */
export const loginConcurrency = 4 * os.availableParallelism();

function signInRoundRobin(target: MekongIdTarget): () => Promise<void> {
  let next = 0;
  return async () => {
    const person = target.knownUsers[next % target.knownUsers.length]!;
    next += 1;
    target.tokens.add(await signIn(target.connections, target.webClient, person, appScope));
  };
}

/** Scenario 1: the full password login, from /auth to tokens, as a person and an app do it. */
export async function measureLogin(target: MekongIdTarget, timing: Timing): Promise<Measurement> {
  const workers = Array.from({ length: loginConcurrency }, (_, index) => index);
  const signInOnce = signInRoundRobin(target);
  const { load, peakRssBytes, cpu } = await warmThenMeasure(target.pid, timing, (window) => runClosedLoop(workers, window, signInOnce));
  return {
    id: 'login',
    title: 'full password login (authorize → login form → code → token with PKCE)',
    unit: 'sign-ins',
    concurrency: loginConcurrency,
    load,
    peakRssBytes,
    cpu,
  };
}

/** Signs in until the stock holds `refreshTokens` refresh tokens, for scenarios that run without the login one. */
export async function stockTokens(target: MekongIdTarget, refreshTokens: number): Promise<void> {
  const signInOnce = signInRoundRobin(target);
  const workers = Array.from({ length: 4 }, (_, index) => index);
  await Promise.all(workers.map(async () => {
    while (target.tokens.refreshTokens.length < refreshTokens) await signInOnce();
  }));
}
