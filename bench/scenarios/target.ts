import type { Connections, Credentials, TokenSet, WebClient } from '../load/relying-party.ts';
import type { TokenEndpoint } from './tokens.ts';

/** How the scenarios reach the Mekong ID under test, and what they may sign in and call with. */
export interface MekongIdTarget {
  readonly origin: string;
  readonly pid: number;
  /** Keep-alive connections for the undici driver (sign-ins, refresh chains, probes). */
  readonly connections: Connections;
  /** A first-party web app: its consent step is skipped. */
  readonly webClient: WebClient;
  /** A service client holding super_admin, for the admin API. */
  readonly serviceClient: { readonly clientId: string; readonly clientSecret: string };
  readonly apiResource: string;
  readonly knownUsers: readonly Credentials[];
  /** Tokens that sign-ins left behind, for the scenarios that need a person's tokens. */
  readonly tokens: TokenStock;
}

/** Enough to spread userinfo and introspection over many tokens and to start every refresh chain. */
const stockLimit = 512;

export interface TokenStock {
  readonly accessTokens: string[];
  /** Each is spent by the first refresh that uses it (rotation), so they are taken, not shared. */
  readonly refreshTokens: string[];
  add(tokens: TokenSet): void;
}

export function createTokenStock(): TokenStock {
  const accessTokens: string[] = [];
  const refreshTokens: string[] = [];
  return {
    accessTokens,
    refreshTokens,
    add(tokens) {
      if (accessTokens.length < stockLimit) accessTokens.push(tokens.access_token);
      if (tokens.refresh_token !== undefined && refreshTokens.length < stockLimit) refreshTokens.push(tokens.refresh_token);
    },
  };
}

/** The token endpoint as the service client uses it (client_credentials for the admin API). */
export function serviceEndpointOf(target: MekongIdTarget): TokenEndpoint {
  return { origin: target.origin, pid: target.pid, ...target.serviceClient, apiResource: target.apiResource };
}

/** The token endpoint as the web app uses it (refresh). */
export function webEndpointOf(target: MekongIdTarget): TokenEndpoint {
  return { ...serviceEndpointOf(target), clientId: target.webClient.clientId, clientSecret: target.webClient.clientSecret };
}
