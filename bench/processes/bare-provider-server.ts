/**
 * The baseline: oidc-provider with nothing of Mekong ID around it. Its own in-memory adapter, one
 * static client, no Koa app, no database. It mirrors only what shapes the token endpoint's work in
 * Mekong ID (src/oidc/provider.ts): RS256 ID tokens and ES256 JWT access tokens for the admin API
 * resource, refresh-token rotation, the same lifetimes. The gap between the two is what Mekong ID
 * itself costs.
 *
 * Started by bench/processes/bare-provider.ts with BENCH_PORT and BENCH_REFRESH_CHAINS; prints one
 * JSON line (issuer, client credentials, refresh tokens to start rotation chains from) once listening.
 */
import { randomBytes } from 'node:crypto';

import { exportJWK, generateKeyPair } from 'jose';
import Provider, { type Configuration } from 'oidc-provider';

const port = Number(process.env['BENCH_PORT']);
const chains = Number(process.env['BENCH_REFRESH_CHAINS'] ?? '0');
const issuer = `http://127.0.0.1:${port}`;
const apiResource = `${issuer}/api/v1`;
const clientId = 'bench';
const clientSecret = randomBytes(32).toString('base64url');
const refreshScope = 'openid profile email offline_access';

async function signingKey(alg: 'RS256' | 'ES256') {
  const { privateKey } = await generateKeyPair(alg, { extractable: true, ...(alg === 'RS256' ? { modulusLength: 2048 } : {}) });
  return { ...(await exportJWK(privateKey)), alg, use: 'sig', kid: alg };
}

const configuration: Configuration = {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    grant_types: ['client_credentials', 'authorization_code', 'refresh_token'],
    response_types: ['code'],
    redirect_uris: ['http://localhost:8080/callback'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  jwks: { keys: [await signingKey('RS256'), await signingKey('ES256')] },
  findAccount: (_ctx, sub) => ({
    accountId: sub,
    claims: () => ({ sub, name: 'Nguyễn Văn An', preferred_username: 'annv', email: 'annv@tiengiang.example', email_verified: false }),
  }),
  claims: { openid: ['sub'], profile: ['name', 'preferred_username'], email: ['email', 'email_verified'] },
  scopes: ['openid', 'offline_access', 'profile', 'email'],
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  rotateRefreshToken: true,
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    userinfo: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: (ctx, _client, oneOf) => oneOf ?? (ctx.oidc.params?.['grant_type'] === 'client_credentials' ? apiResource : undefined),
      getResourceServerInfo: () => ({ scope: 'api', audience: apiResource, accessTokenTTL: 600, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'ES256' } } }),
    },
  },
  ttl: { AccessToken: 900, ClientCredentials: 600, IdToken: 3600, RefreshToken: 14 * 24 * 3600, Grant: 14 * 24 * 3600, Session: 12 * 3600 },
};

const provider = new Provider(issuer, configuration);

/** What a code flow with offline_access would have left behind: a grant and its refresh token, per chain. */
async function mintRefreshTokens(count: number): Promise<string[]> {
  const client = await provider.Client.find(clientId);
  if (!client) throw new Error('the static client is missing');
  const tokens: string[] = [];
  for (let chain = 0; chain < count; chain += 1) {
    const accountId = `person-${chain}`;
    const grant = new provider.Grant({ accountId, clientId });
    grant.addOIDCScope(refreshScope);
    const grantId = await grant.save();
    const refreshToken = new provider.RefreshToken({
      accountId, client, grantId, scope: refreshScope, gty: 'authorization_code', authTime: Math.floor(Date.now() / 1000),
    });
    tokens.push(await refreshToken.save());
  }
  return tokens;
}

const refreshTokens = await mintRefreshTokens(chains);
provider.listen(port, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ issuer, clientId, clientSecret, apiResource, refreshTokens })}\n`);
});
process.once('SIGTERM', () => process.exit(0));
