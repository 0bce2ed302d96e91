import { createHash } from 'node:crypto';

import type { JWK } from 'jose';
import type { Kysely } from 'kysely';
import Provider, { errors, type Client, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';

import type { Config } from '../config/index.ts';
import { insertBackchannelLogouts } from '../db/queries/backchannel-logouts.ts';
import type { Database } from '../db/schema.ts';
import { findPreviousClientSecretHash } from '../db/queries/clients.ts';
import { noOrigin, originOf, recordAuditEvent, type Actor } from '../domain/audit.ts';
import { requirePermission, type AdminContext } from '../domain/authorization.ts';
import { clientSecretMatches, generateClientId, generateClientSecret } from '../domain/client-secrets.ts';
import { operatorOnlyMetadata, RegistrationRefused, removeRegisteredClient, saveRegisteredClient } from '../domain/dynamic-registration.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import { createFindAccount, claimsByScope } from './account.ts';
import { createKyselyAdapter, type RegisteredClientStore } from './adapter.ts';
import type { ClientCache } from './client-cache.ts';
import { clientFlag, clientFlags } from './client-flags.ts';
import { installAuditTrail } from './audit-trail.ts';
import { deviceFlowPages, installDeviceSessionGuard } from './device-flow.ts';
import { applyHighSecurityProfile, assertHighSecurityClientAssertion, assertHighSecurityRequestObject, highSecurity, isHighSecurity } from './high-security.ts';
import { createOutboundFetch } from './outbound.ts';
import { promptPolicy } from './prompt-policy.ts';
import { registeredResourceServer, servesTokenAudience } from './resource-servers.ts';
import { installSubjectAliases, jwtAccessTokenSubjects, type SubjectAliasCache } from './subject-aliases.ts';
import { dpopSigningAlgorithms } from '../domain/dpop-proofs.ts';
import { authenticationLevels } from '../domain/second-factors.ts';
import { exchangedTokenClaims, installTokenExchange } from './token-exchange.ts';

/**
 * The OpenID scopes the provider knows. The API's scope is not among these: it belongs to the API
 * resource, granted only to clients allowed to call it.
 */
export const oidcScopes: ReadonlySet<string> = new Set(['openid', 'offline_access', 'profile', 'email', 'phone', 'gov']);

/**
 * How long each artifact lives, in seconds. Access tokens are short because they cannot be recalled
 * from the APIs that cache them; refresh tokens rotate on every use, so a stolen one is noticed.
 */
export const lifetimes = {
  accessToken: 15 * 60,
  apiAccessToken: 10 * 60,
  authorizationCode: 60,
  clientCredentials: 10 * 60,
  idToken: 60 * 60,
  refreshToken: 14 * 24 * 60 * 60,
  interaction: 60 * 60,
  /** The longest a sign-in session may be configured to live (SESSION_MAX_SECONDS): a working day. */
  session: 12 * 60 * 60,
  grant: 14 * 24 * 60 * 60,
  /** A pushed request is spent at once by a browser redirect; FAPI 2.0 asks for under ten minutes. */
  pushedAuthorizationRequest: 60,
  /** Long enough to walk to a screen, sign in on a phone and type eight letters. */
  deviceCode: 10 * 60,
  /** Long enough for a deployment pipeline to be set up with it; it registers any number of apps meanwhile. */
  initialAccessToken: 7 * 24 * 60 * 60,
  /** Managing a registration at /reg; every update hands out a new one. */
  registrationAccessToken: 365 * 24 * 60 * 60,
} as const;

/**
 * Asymmetric algorithms only, for what clients sign (private_key_jwt assertions, request objects):
 * the stored client secret is a hash, so nothing may use it as an HMAC key.
 */
const clientSigningAlgorithms = ['RS256', 'PS256', 'ES256', 'EdDSA'] as const;

/**
 * A retired signing key is still published this long after its successor took over. ID tokens come
 * back as `id_token_hint` at logout for as long as the session lives, so that bounds it, not only
 * the ID token's own lifetime.
 */
export const signingKeyRetentionSeconds = Math.max(lifetimes.idToken, lifetimes.apiAccessToken, lifetimes.session);

/** The admin API's resource indicator; tokens for it are ES256 JWTs. */
export const apiResourceIndicator = (issuer: string) => `${issuer}/api/v1`;
export const apiScope = 'api';

/**
 * The SCIM 2.0 service's resource indicator and scope. Like the API's, the scope belongs to the
 * resource rather than to the provider's list of scopes: only a client a global administrator
 * allowed SCIM (`scim_access`, see domain/app-access.ts) obtains it, with client_credentials.
 */
export const scimResourceIndicator = (issuer: string) => `${issuer}/scim/v2`;
export const scimScope = 'scim';

/** Mekong ID's own resource servers (the admin API, SCIM) take short-lived ES256 JWT access tokens (RFC 9068). */
function jwtResourceServer(scope: string, audience: string) {
  return { scope, audience, accessTokenTTL: lifetimes.apiAccessToken, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'ES256' } } } as const;
}

/** The pages oidc-provider shows by itself, rendered by the http layer in the person's language. */
export interface ProviderPages {
  logout(ctx: KoaContextWithOIDC, providerForm: string): void;
  loggedOut(ctx: KoaContextWithOIDC): void;
  error(ctx: KoaContextWithOIDC, out: { error: string; error_description?: string | undefined }): void;
  /** The device flow's page where a person types the code a shared screen shows. */
  deviceCodeInput(ctx: KoaContextWithOIDC, form: DeviceCodeForm, problem: DeviceCodeProblem | null): void;
  /** Which app the code belongs to, before the person signs in to it. */
  deviceCodeConfirm(ctx: KoaContextWithOIDC, form: DeviceCodeForm & { readonly userCode: string }, clientName: string): void;
  deviceDone(ctx: KoaContextWithOIDC, clientName: string): void;
}

export interface DeviceCodeForm {
  readonly action: string;
  /** oidc-provider's own CSRF token for the device pages. */
  readonly xsrf: string;
  readonly userCode: string | null;
}

/** Why the code page is shown again. */
export type DeviceCodeProblem = 'missing' | 'not_found' | 'expired' | 'used' | 'aborted' | 'failed';

export interface ProviderDeps {
  readonly config: Config;
  readonly db: Kysely<Database>;
  readonly pages: ProviderPages;
  readonly logger: Logger;
  /** Private signing keys, each algorithm's active key first (see domain/signing-keys). */
  readonly jwks: JWK[];
  /** Counted events; the CLI's short-lived providers have none. */
  readonly metrics?: Pick<Metrics, 'tokensIssued'> | undefined;
  /** The server's clients in memory, kept across provider rebuilds; the CLI's providers read the table each time. */
  readonly clientCache?: ClientCache | undefined;
  /** The subjects apps know people by after a merge, kept in memory (oidc/subject-aliases.ts); none: read each time. */
  readonly subjectAliasCache?: SubjectAliasCache | undefined;
}

export function createProvider(deps: ProviderDeps): Provider {
  const { config, pages, logger } = deps;
  const apiResource = apiResourceIndicator(config.issuer);
  const scimResource = scimResourceIndicator(config.issuer);

  const configuration: Configuration = {
    adapter: createKyselyAdapter(deps.db, registeredClientStore(deps.db), deps.clientCache),
    findAccount: createFindAccount(deps.db),
    jwks: { keys: deps.jwks },
    claims: Object.fromEntries(Object.entries(claimsByScope).map(([scope, claims]) => [scope, [...claims]])),
    scopes: [...oidcScopes],
    cookies: {
      keys: [...config.cookieKeys],
      long: { httpOnly: true, sameSite: 'lax' },
      short: { httpOnly: true, sameSite: 'lax' },
    },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}`, policy: promptPolicy(deps.db, config.session) },
    // How strongly the person signed in, in every ID token; an app asks for more with acr_values.
    acrValues: [authenticationLevels.password, authenticationLevels.mfa],
    extraClientMetadata: {
      properties: [...clientFlags],
      validator(ctx, key, value, metadata) {
        if (value !== undefined && typeof value !== 'boolean') {
          throw new errors.InvalidClientMetadata(`${key} must be a boolean`);
        }
        if (value !== undefined && isRegistrationRoute(ctx) && (operatorOnlyMetadata as readonly string[]).includes(key)) {
          throw new errors.InvalidClientMetadata(`${key} is set by a Mekong ID administrator, not at registration`);
        }
        if (key === 'high_security' && value === true) applyHighSecurityProfile(metadata);
      },
    },
    // Only methods that never use the client secret as a key (no client_secret_jwt): the stored value is a hash.
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'],
    assertJwtClientAuthClaimsAndHeader: assertHighSecurityClientAssertion,
    enabledJWA: {
      idTokenSigningAlgValues: ['RS256', 'ES256'],
      userinfoSigningAlgValues: ['RS256', 'ES256'],
      introspectionSigningAlgValues: ['RS256', 'ES256'],
      authorizationSigningAlgValues: ['RS256', 'ES256'],
      clientAuthSigningAlgValues: [...clientSigningAlgorithms],
      requestObjectSigningAlgValues: [...clientSigningAlgorithms],
      dPoPSigningAlgValues: [...dpopSigningAlgorithms],
    },
    // PKCE (S256, the only method oidc-provider offers) for public clients, which have nothing else
    // to bind a code to, and for high-security ones; confidential clients may add it.
    pkce: { required: (_ctx, client) => client.clientAuthMethod === 'none' || isHighSecurity(client) },
    extraTokenClaims: exchangedTokenClaims,
    // A JWT access token names the person by the sub its app knows them by (oidc/subject-aliases.ts).
    formats: { customizers: { jwt: jwtAccessTokenSubjects(deps.db, deps.subjectAliasCache) } },
    // Code flow only: implicit and hybrid responses put tokens in URLs and browser history.
    responseTypes: ['code'],
    fetch: createOutboundFetch(config.outboundAllowedNetworks) as unknown as Configuration['fetch'],
    rotateRefreshToken: true,
    // OpenID Connect requires redirect_uri; guessing it also trips a bug in oidc-provider's error path (a 500 at /auth/:uid).
    allowOmittingSingleRegisteredRedirectUri: false,
    clientBasedCORS(_ctx, origin, client) {
      return (client.redirectUris ?? []).some((uri) => URL.canParse(uri) && new URL(uri).origin === origin);
    },
    features: {
      devInteractions: { enabled: false },
      // RFC 7591 at /reg, for automation, with an initial access token an administrator issued
      // (issueInitialAccessToken below); the client lands pending unless the token says otherwise.
      // Ids and secrets are made like every other client's, and stored the same way (hashed).
      registration: {
        enabled: true,
        initialAccessToken: true,
        issueRegistrationAccessToken: true,
        idFactory: () => generateClientId(),
        secretFactory: () => Promise.resolve(generateClientSecret()),
        policies: { [preApprovedPolicy]: () => undefined },
      },
      // RFC 7592: read, update and delete with the registration access token, rotated at each update.
      registrationManagement: { enabled: true, rotateRegistrationAccessToken: true },
      clientCredentials: { enabled: true },
      // RFC 9126, for every client; a client's require_pushed_authorization_requests makes it its only way in.
      pushedAuthorizationRequests: { enabled: true, requirePushedAuthorizationRequests: false, allowUnregisteredRedirectUris: false },
      // RFC 9449: a token request with a DPoP proof gets tokens bound to its key (cnf.jkt); a client's
      // dpop_bound_access_tokens makes the proof required. No server nonces: they need a secret shared by every node.
      dPoP: { enabled: true, allowReplay: false },
      // RFC 9101, signed request objects by value, verified with the keys the client registered.
      requestObjects: { enabled: true, requireSignedRequestObject: false, assertJwtClaimsAndHeader: assertHighSecurityRequestObject },
      // RFC 8628 for shared screens: user codes of eight letters without vowels or look-alikes (base-20).
      deviceFlow: { enabled: true, charset: 'base-20', mask: '****-****', ...deviceFlowPages(pages) },
      introspection: {
        enabled: true,
        // A client may introspect its own tokens, and the app serving a registered API the access
        // tokens whose audience that API is (oidc/resource-servers.ts); nobody else's.
        allowedPolicy: async (ctx, client, token) => token.clientId === client.clientId || (await servesTokenAudience(deps.db, ctx, client, token)),
      },
      revocation: {
        enabled: true,
        // Only the client a token was issued to may revoke it.
        allowedPolicy: (_ctx, client, token) => token.clientId === client.clientId,
      },
      userinfo: { enabled: true },
      backchannelLogout: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: (ctx, form) => pages.logout(ctx, form),
        postLogoutSuccessSource: (ctx) => pages.loggedOut(ctx),
      },
      resourceIndicators: {
        enabled: true,
        defaultResource(ctx, _client, oneOf) {
          if (oneOf) return oneOf;
          // A service client asking for a token without naming an API means the admin API; an app
          // that may only pull people through SCIM means SCIM.
          if (ctx.oidc.params?.['grant_type'] !== 'client_credentials') return undefined;
          const client = ctx.oidc.client;
          return !clientFlag(client, 'admin_api_access') && clientFlag(client, 'scim_access') ? scimResource : apiResource;
        },
        getResourceServerInfo(ctx, resourceIndicator, client) {
          if (resourceIndicator === scimResource) {
            if (!clientFlag(client, 'scim_access')) throw new errors.InvalidTarget('this client may not obtain tokens for SCIM');
            // SCIM serves apps acting as themselves: no token for it in a person's name, from any flow.
            if (ctx.oidc.params?.['grant_type'] !== 'client_credentials') throw new errors.InvalidTarget('SCIM tokens are issued to apps by client_credentials only');
            return jwtResourceServer(scimScope, scimResource);
          }
          // Any other indicator must be an API an app registered, approved and granted to this client.
          if (resourceIndicator !== apiResource) return registeredResourceServer(deps.db, ctx, resourceIndicator, client);
          // Otherwise any app a person signs in to could obtain an admin-API token in their name.
          if (!clientFlag(client, 'admin_api_access')) {
            throw new errors.InvalidTarget('this client may not obtain tokens for the admin API');
          }
          return jwtResourceServer(apiScope, apiResource);
        },
      },
    },
    ttl: {
      AccessToken: (_ctx, token, client) =>
        Math.min(token.resourceServer?.accessTokenTTL ?? lifetimes.accessToken, isHighSecurity(client) ? highSecurity.accessTokenSeconds : Infinity),
      AuthorizationCode: lifetimes.authorizationCode,
      ClientCredentials: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? lifetimes.clientCredentials,
      IdToken: lifetimes.idToken,
      RefreshToken: lifetimes.refreshToken,
      Interaction: lifetimes.interaction,
      // Stored until it goes idle; every use saves it again. Never past its maximum from the login.
      Session: (_ctx, session) => {
        const now = Math.floor(Date.now() / 1000);
        const remaining = (session.loginTs ?? now) + config.session.maxSeconds - now;
        return Math.max(1, Math.min(config.session.idleSeconds, remaining));
      },
      Grant: lifetimes.grant,
      PushedAuthorizationRequest: lifetimes.pushedAuthorizationRequest,
      DeviceCode: lifetimes.deviceCode,
      InitialAccessToken: lifetimes.initialAccessToken,
      RegistrationAccessToken: lifetimes.registrationAccessToken,
    },
    renderError: (ctx, out) => pages.error(ctx, out),
  };

  const provider = new Provider(config.issuer, configuration);
  provider.proxy = config.trustProxy;
  // The address the proxy saw is the last X-Forwarded-For entry; those before it are the client's to invent.
  provider.maxIpsCount = 1;
  installHashedClientSecrets(provider, deps.db);
  installClientReuse(provider);
  installRegistrationResponses(provider);
  installQueuedBackchannelLogout(provider, deps.db);
  installKeyBoundRefreshTokens(provider);
  installTokenExchange(provider, { db: deps.db, logger, findAccount: configuration.findAccount! });
  installAuditTrail(provider, deps.db, logger);
  installSubjectAliases(provider, deps.db, deps.subjectAliasCache);
  installDeviceSessionGuard(provider);

  provider.on('server_error', (ctx: KoaContextWithOIDC, error: Error) => {
    logger.error({ err: error, requestId: ctx.response.get('x-request-id'), path: ctx.path }, 'oidc-provider server error');
  });
  // oidc-provider's end-session action reports on back-channel logout calls that, here, it only queued.
  provider.on('backchannel.error', (_ctx: KoaContextWithOIDC, error: Error, client: { clientId: string }) => {
    logger.error({ clientId: client.clientId, err: error }, 'queueing a back-channel logout failed');
  });
  provider.on('grant.success', (ctx: KoaContextWithOIDC) => {
    const grantType = ctx.oidc.params?.['grant_type'];
    deps.metrics?.tokensIssued.inc({ grant_type: typeof grantType === 'string' ? grantType : 'unknown' });
  });
  return provider;
}

/**
 * A high-security client's refresh token is bound to the DPoP key of the access token issued with
 * it, and so is each rotated successor (oidc-provider carries `jkt` over and refuses a refresh
 * whose proof is made by another key). oidc-provider binds refresh tokens to the key only for
 * public clients, since a confidential client's are bound to it by its authentication (RFC 9449
 * §5); the profile wants both, so that a stolen refresh token needs the client's key and the
 * DPoP key. Like installHashedClientSecrets below, this reaches into oidc-provider's model.
 */
function installKeyBoundRefreshTokens(provider: Provider): void {
  type KeyBound = { jkt?: string };
  const prototype = provider.RefreshToken.prototype as unknown as { save: (this: KeyBound, ...args: unknown[]) => Promise<string> };
  const save = prototype.save;
  prototype.save = function saveKeyBound(this: KeyBound, ...args: unknown[]) {
    const ctx = Provider.ctx;
    const accessToken = ctx?.oidc.entities.AccessToken as { jkt?: string } | undefined;
    if (this.jkt === undefined && accessToken?.jkt && isHighSecurity(ctx?.oidc.client)) this.jkt = accessToken.jkt;
    return save.apply(this, args);
  };
}

/**
 * This module is the one place that reaches into oidc-provider's internals. Secrets are stored as SHA-256 hashes,
 * so `client.clientSecret` holds the hash and the presented secret is hashed before comparison.
 * This is sound only because no enabled feature uses the secret as a key (no client_secret_jwt, no
 * HS* algorithms, no symmetric encryption): see clientAuthMethods and enabledJWA above. After a
 * rotation the previous secret's hash is also accepted until its overlap ends (domain/developer-apps.ts),
 * read from the database only when the current secret does not match.
 */
function installHashedClientSecrets(provider: Provider, db: Kysely<Database>): void {
  const prototype = provider.Client.prototype as unknown as {
    compareClientSecret(actual: string): Promise<boolean>;
  };
  prototype.compareClientSecret = async function compareHashedClientSecret(this: { clientId: string; clientSecret?: string }, actual: string) {
    if (typeof this.clientSecret !== 'string' || typeof actual !== 'string') return false;
    if (clientSecretMatches(this.clientSecret, actual)) return true;
    const previous = await findPreviousClientSecretHash(db, this.clientId);
    return previous !== undefined && clientSecretMatches(previous, actual);
  };
}

/**
 * oidc-provider builds a Client once per distinct metadata, which it recognises by a SHA-256 of the
 * metadata's JSON: every lookup serialised and hashed the metadata again, about 7% of the work of a
 * client_credentials request. The client cache (client-cache.ts) hands out one frozen metadata
 * object per client until the client changes, so the Client built from it is kept beside it and
 * found again by identity. Changed metadata is a new object, which misses and is built anew; metadata
 * read around the cache (a registration being managed) is never the same object twice.
 */
function installClientReuse(provider: Provider): void {
  const clients = provider.Client as unknown as {
    find(id: string): Promise<Client | undefined>;
    readonly adapter: { find(id: string): Promise<object | undefined> };
  };
  const build = clients.find.bind(clients);
  const built = new WeakMap<object, Client>();
  clients.find = async (id: string) => {
    const metadata = typeof id === 'string' && id !== '' ? await clients.adapter.find(id) : undefined;
    const known = metadata && built.get(metadata);
    if (known) return known;
    const client = await build(id);
    if (metadata && client) built.set(metadata, client);
    return client;
  };
}

/**
 * An opaque token's jti is its value, which must not reach the audit log (auditors read it): events
 * name a token by this fingerprint instead, the same at its issuance and at each registration made with it.
 */
const tokenFingerprint = (value: string) => createHash('sha256').update(value).digest('hex').slice(0, 12);

/** The initial access token policy that lets a /reg client go live at once, without an administrator's approval. */
export const preApprovedPolicy = 'mekong-pre-approved';

const registrationRoutes = new Set(['registration', 'client', 'client_update', 'client_delete']);
const isRegistrationRoute = (ctx: KoaContextWithOIDC | undefined) => registrationRoutes.has(ctx?.oidc?.route ?? '');

/**
 * How /reg writes land in the clients table (domain/dynamic-registration.ts), with who did it for
 * the audit log: the request of the moment, which oidc-provider keeps for its adapter (Provider.ctx).
 */
function registeredClientStore(db: Kysely<Database>): RegisteredClientStore {
  const by = () => {
    const ctx = Provider.ctx;
    const origin = ctx ? originOf(ctx) : noOrigin;
    const token = ctx?.oidc.entities.InitialAccessToken ?? ctx?.oidc.entities.RegistrationAccessToken;
    const name = `dynamic registration (${token ? `token ${tokenFingerprint(token.jti)}` : 'no token'})`;
    return { origin, actor: { type: 'system' as const, id: null, name }, policies: (token as { policies?: string[] } | undefined)?.policies ?? [] };
  };
  return {
    async save(payload) {
      const { actor, origin, policies } = by();
      try {
        await saveRegisteredClient(db, payload, { statusIfNew: policies.includes(preApprovedPolicy) ? 'active' : 'pending', actor, origin });
      } catch (error) {
        if (error instanceof RegistrationRefused) {
          throw error.field.includes('redirect_uri') ? new errors.InvalidRedirectUri(error.message) : new errors.InvalidClientMetadata(error.message);
        }
        throw error;
      }
    },
    remove: (clientId) => removeRegisteredClient(db, clientId, by()),
    pendingVisible: () => isRegistrationRoute(Provider.ctx),
  };
}

/**
 * Reading or updating a registration (RFC 7592) answers with the client's metadata, where
 * oidc-provider puts the secret it loaded: here the stored hash, which is no secret for the app to
 * use. It is left out; the secret itself was shown once, at registration.
 */
function installRegistrationResponses(provider: Provider): void {
  provider.use(async (ctx, next) => {
    await next();
    const route = (ctx as KoaContextWithOIDC).oidc?.route;
    if ((route === 'client' || route === 'client_update') && ctx.body && typeof ctx.body === 'object') {
      const body = ctx.body as Record<string, unknown>;
      delete body['client_secret'];
      delete body['client_secret_expires_at'];
    }
  });
}

/**
 * An initial access token for /reg, shown once. A global administrator issues it; with
 * `preApproved` the apps registered with it go live at once, otherwise they wait for approval.
 * It can register any number of apps until it expires.
 */
export async function issueInitialAccessToken(
  provider: Provider, db: Kysely<Database>, issuer: AdminContext | { readonly operator: Actor }, options: { preApproved: boolean },
): Promise<{ token: string; expiresAt: Date }> {
  // The operator at the command line holds the server itself; anyone else needs the right.
  if ('principal' in issuer) {
    requirePermission(issuer.principal, 'apps.assign', null, {
      action: 'client.initial_access_token', message: 'initial access tokens register apps for the whole province: they need a global administrator',
    });
  }
  const by = 'principal' in issuer ? { actor: issuer.principal.actor, origin: issuer.origin } : { actor: issuer.operator, origin: noOrigin };
  const initialAccessToken = new provider.InitialAccessToken(options.preApproved ? { policies: [preApprovedPolicy] } : {});
  const token = await initialAccessToken.save();
  const expiresAt = new Date(Date.now() + lifetimes.initialAccessToken * 1000);
  await recordAuditEvent(db, {
    ...by, action: 'client.initial_access_token', target: { type: 'initial_access_token', id: tokenFingerprint(token) },
    after: { pre_approved: options.preApproved, expires_at: expiresAt.toISOString() },
  });
  return { token, expiresAt };
}

/** oidc-provider's own method (lib/models/client.js): signs a logout token and posts it. @types omits it. */
type BackchannelLogoutMethod = (this: ClientWithBackchannelLogout, sub: string, sid: string) => Promise<void>;
interface ClientWithBackchannelLogout {
  readonly clientId: string;
  backchannelLogout: BackchannelLogoutMethod;
}

const directBackchannelLogout = new WeakMap<Provider, BackchannelLogoutMethod>();

/**
 * oidc-provider's end-session action calls `client.backchannelLogout` for each app of the session
 * and waits for the app to answer. Here that call queues instead (see oidc/backchannel.ts), so an app
 * that is down is retried rather than forgotten, and the person's logout does not wait on it. The
 * provider's own sending method is kept for the delivery job.
 */
function installQueuedBackchannelLogout(provider: Provider, db: Kysely<Database>): void {
  const prototype = provider.Client.prototype as unknown as ClientWithBackchannelLogout;
  directBackchannelLogout.set(provider, prototype.backchannelLogout);
  prototype.backchannelLogout = async function queueBackchannelLogout(sub, sid) {
    await insertBackchannelLogouts(db, [{ clientId: this.clientId, accountId: sub, sid }]);
  };
}

/** Signs and posts a logout token to the client now, with oidc-provider's own method; throws unless the app answers 200 or 204. */
export async function sendBackchannelLogout(provider: Provider, client: Client, sub: string, sid: string): Promise<void> {
  const send = directBackchannelLogout.get(provider);
  if (!send) throw new Error('this provider was not built by createProvider');
  await send.call(client as unknown as ClientWithBackchannelLogout, sub, sid);
}
