import type { IncomingMessage, ServerResponse } from 'node:http';

import { createLocalJWKSet, type JWK, type JWTVerifyGetKey } from 'jose';
import type Provider from 'oidc-provider';

import { listSigningKeys } from '../db/queries/signing-keys.ts';
import { describeKeys, keysetFingerprint, keystoreFor } from '../domain/signing-keys.ts';
import { createProvider, signingKeyRetentionSeconds, type ProviderDeps } from './provider.ts';

type Handler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

/**
 * oidc-provider takes its keys once, at construction. Everything it stores lives in the database, so
 * a provider is cheap to rebuild: when the published or signing keys change (a rotation from another
 * node or the CLI, or a pending key's activation time arriving) we build a new one and swap it in.
 */
export interface LiveProvider {
  current(): Provider;
  /** Serves a request with the provider in force now. */
  handle: Handler;
  /** Reloads the keys; true when the provider was rebuilt. */
  refresh(now?: Date): Promise<boolean>;
  /** The published public keys, for verifying tokens Mekong ID issued to itself (the admin API's). */
  verificationKeys: JWTVerifyGetKey;
  /** True once keys have been loaded: readiness depends on it. */
  readonly keysLoaded: boolean;
}

export async function createLiveProvider(deps: Omit<ProviderDeps, 'jwks'>): Promise<LiveProvider> {
  let provider: Provider | undefined;
  let handler: Handler | undefined;
  let fingerprint = '';
  let verificationKeys: JWTVerifyGetKey | undefined;

  async function reload(now: Date): Promise<boolean> {
    const keys = await listSigningKeys(deps.db);
    const next = keysetFingerprint(keys, now, signingKeyRetentionSeconds);
    if (provider && next === fingerprint) return false;
    const jwks = keystoreFor(keys, deps.config.masterKey, now, signingKeyRetentionSeconds);
    if (jwks.length === 0) throw new Error('no signing keys: run migrations and start the server once to create them');
    provider = createProvider({ ...deps, jwks });
    handler = provider.callback();
    const published = new Set(describeKeys(keys, now, signingKeyRetentionSeconds).filter((key) => key.state !== 'expired').map((key) => key.kid));
    verificationKeys = createLocalJWKSet({ keys: keys.filter((key) => published.has(key.kid)).map((key) => key.public_jwk as JWK) });
    fingerprint = next;
    return true;
  }

  // One reload at a time: a notification and the periodic check may ask at once.
  let reloading: Promise<boolean> = reload(new Date());
  await reloading;
  const refresh = (now = new Date()) => (reloading = reloading.then(() => reload(now), () => reload(now)));
  return {
    current: () => provider!,
    handle: (req, res) => handler!(req, res),
    refresh,
    verificationKeys: (header, token) => verificationKeys!(header, token),
    get keysLoaded() {
      return provider !== undefined;
    },
  };
}
