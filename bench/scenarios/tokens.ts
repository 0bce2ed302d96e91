import os from 'node:os';

import type autocannon from 'autocannon';

import { runClosedLoop, runClosedLoopTurn } from '../load/closed-loop.ts';
import { basicAuthorization, tokenRequest, type Connections } from '../load/relying-party.ts';
import { runAutocannon, runSingleRequests } from '../load/single-requests.ts';
import { warmThenMeasure, type Measurement, type Timing } from './measurement.ts';
import { probe } from './probe.ts';
import { measureSideBySide, type LoadedSide, type SideResult } from './side-by-side.ts';

/**
 * The token-endpoint scenarios (client_credentials, refresh) run against Mekong ID and against the
 * bare oidc-provider alike, in turns (side-by-side.ts), with the same requests and the same
 * concurrency, so that their ratio is what Mekong ID adds. Userinfo and introspection run against
 * Mekong ID only.
 */

/** Connections for single-request scenarios: eight per core keep the cores busy through PostgreSQL round trips. */
export const requestConcurrency = 8 * os.availableParallelism();
/** Rotation chains in flight, as many: each chain's next refresh needs the answer to its last. */
export const refreshConcurrency = requestConcurrency;

export interface TokenEndpoint {
  readonly origin: string;
  /** The process answering, whose memory is sampled. */
  readonly pid: number;
  readonly clientId: string;
  readonly clientSecret: string;
  /** The resource a client_credentials token is for (the admin API's indicator). */
  readonly apiResource: string;
}

export interface Labels {
  readonly id: string;
  readonly title: string;
}

/** Scenario 2 (and its baseline): a service client's token for the admin API, a signed JWT. Probed once. */
async function clientCredentialsRequest(endpoint: TokenEndpoint, labels: Labels): Promise<autocannon.Request> {
  const request: autocannon.Request = {
    method: 'POST',
    path: '/token',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basicAuthorization(endpoint.clientId, endpoint.clientSecret) },
    body: new URLSearchParams({ grant_type: 'client_credentials', resource: endpoint.apiResource, scope: 'api' }).toString(),
  };
  await probe(endpoint.origin, request, labels.id);
  return request;
}

/** Scenario 2 alone (the scaling runs, which hold it against no baseline). */
export async function measureClientCredentials(endpoint: TokenEndpoint, labels: Labels, timing: Timing): Promise<Measurement> {
  const request = await clientCredentialsRequest(endpoint, labels);
  const { load, peakRssBytes, cpu } = await warmThenMeasure(endpoint.pid, timing, (window) =>
    runSingleRequests({ ...window, origin: endpoint.origin, connections: requestConcurrency, requests: [request] }));
  return { ...labels, unit: 'requests', concurrency: requestConcurrency, load, peakRssBytes, cpu };
}

/** Scenario 2 as one side of its comparison with the baseline (side-by-side.ts). */
export async function clientCredentialsSide(endpoint: TokenEndpoint, labels: Labels): Promise<LoadedSide> {
  const request = await clientCredentialsRequest(endpoint, labels);
  return {
    pid: endpoint.pid,
    run: (seconds, recorder) => runAutocannon({ origin: endpoint.origin, connections: requestConcurrency, requests: [request] }, seconds, recorder),
  };
}

interface RotationChain {
  token: string | null;
}

/**
 * Scenario 3 (and its baseline): refresh with rotation. Each chain spends its refresh token and
 * continues with the one it gets back. A failed refresh breaks its chain (the token may be spent),
 * which continues from a spare token.
 */
function rotationChains(endpoint: TokenEndpoint, connections: Connections, refreshTokens: string[], labels: Labels) {
  if (refreshTokens.length < refreshConcurrency) throw new Error(`${labels.id}: ${refreshTokens.length} refresh tokens for ${refreshConcurrency} chains`);
  const chains: RotationChain[] = refreshTokens.splice(0, refreshConcurrency).map((token) => ({ token }));
  const client = { clientId: endpoint.clientId, clientSecret: endpoint.clientSecret };
  const refresh = async (chain: RotationChain) => {
    if (chain.token === null) {
      // Out of spares: wait rather than spin, so that one broken chain does not eat the CPU.
      await new Promise((resolve) => setTimeout(resolve, 100));
      throw new Error('a broken rotation chain had no spare refresh token to go on with');
    }
    try {
      const tokens = await tokenRequest(connections, client, { grant_type: 'refresh_token', refresh_token: chain.token });
      if (tokens.refresh_token === undefined) throw new Error('the refresh answered without a new refresh token: rotation is off');
      chain.token = tokens.refresh_token;
    } catch (error) {
      chain.token = refreshTokens.pop() ?? null;
      throw error;
    }
  };
  return { chains, refresh };
}

/** Scenario 3 alone (the scaling runs). */
export async function measureRefresh(
  endpoint: TokenEndpoint,
  connections: Connections,
  refreshTokens: string[],
  labels: Labels,
  timing: Timing,
): Promise<Measurement> {
  const { chains, refresh } = rotationChains(endpoint, connections, refreshTokens, labels);
  const { load, peakRssBytes, cpu } = await warmThenMeasure(endpoint.pid, timing, (window) => runClosedLoop(chains, window, refresh));
  return { ...labels, unit: 'requests', concurrency: refreshConcurrency, load, peakRssBytes, cpu };
}

/** Scenario 3 as one side of its comparison with the baseline. */
export function refreshSide(endpoint: TokenEndpoint, connections: Connections, refreshTokens: string[], labels: Labels): LoadedSide {
  const { chains, refresh } = rotationChains(endpoint, connections, refreshTokens, labels);
  return { pid: endpoint.pid, run: (seconds, recorder) => runClosedLoopTurn(chains, seconds, refresh, recorder) };
}

/** A baseline and the scenario held against it, measured in turns (side-by-side.ts), as two rows of the report. */
export async function measureAgainstBaseline(
  baseline: { readonly side: LoadedSide; readonly labels: Labels },
  scenario: { readonly side: LoadedSide; readonly labels: Labels },
  concurrency: number,
  timing: Timing,
): Promise<[Measurement, Measurement]> {
  const [bare, ours] = await measureSideBySide([baseline.side, scenario.side], timing);
  const row = (labels: Labels, result: SideResult): Measurement => ({ ...labels, unit: 'requests', concurrency, ...result });
  return [row(baseline.labels, bare), row(scenario.labels, ours)];
}

/** A few dozen people's tokens, so that no single token's row stays hot in every cache. */
const tokensPerScenario = 64;

/** Scenario 4: an app reads the person's claims with their access token. */
export async function measureUserinfo(origin: string, pid: number, accessTokens: readonly string[], timing: Timing): Promise<Measurement> {
  const requests = accessTokens.slice(0, tokensPerScenario).map((token): autocannon.Request => ({
    method: 'GET', path: '/me', headers: { authorization: `Bearer ${token}` },
  }));
  const claims = (await probe(origin, requests[0]!, 'userinfo')) as { sub?: unknown };
  if (typeof claims.sub !== 'string') throw new Error('userinfo: the probe answered without a subject');
  const { load, peakRssBytes, cpu } = await warmThenMeasure(pid, timing, (window) =>
    runSingleRequests({ ...window, origin, connections: requestConcurrency, requests }));
  return { id: 'userinfo', title: 'userinfo (GET /me with a person\'s access token)', unit: 'requests', concurrency: requestConcurrency, load, peakRssBytes, cpu };
}

/** Scenario 5: the app that holds a token asks whether it is still active (a client may introspect only its own). */
export async function measureIntrospection(
  origin: string,
  pid: number,
  client: { readonly clientId: string; readonly clientSecret: string },
  accessTokens: readonly string[],
  timing: Timing,
): Promise<Measurement> {
  const requests = accessTokens.slice(0, tokensPerScenario).map((token): autocannon.Request => ({
    method: 'POST',
    path: '/token/introspection',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basicAuthorization(client.clientId, client.clientSecret) },
    body: new URLSearchParams({ token, token_type_hint: 'access_token' }).toString(),
  }));
  const answer = (await probe(origin, requests[0]!, 'introspection')) as { active?: unknown };
  if (answer.active !== true) throw new Error('introspection: the probe found the token inactive; the scenario would measure refusals');
  const { load, peakRssBytes, cpu } = await warmThenMeasure(pid, timing, (window) =>
    runSingleRequests({ ...window, origin, connections: requestConcurrency, requests }));
  return { id: 'introspection', title: 'introspection of an access token by its client', unit: 'requests', concurrency: requestConcurrency, load, peakRssBytes, cpu };
}
