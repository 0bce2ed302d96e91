import type { Kysely } from 'kysely';
import { z } from 'zod';

import { findClient, insertClient, insertClientOwner, setClientStatus } from '../db/queries/clients.ts';
import { findOrgUnitByCode } from '../db/queries/org-units.ts';
import { insertRoleAssignment } from '../db/queries/role-assignments.ts';
import type { AdminRole, ClientMetadata, Database } from '../db/schema.ts';
import { addLocalizedIssue, AppError, assertThat, conflict, invalidInput, localizable } from '../errors.ts';
import { noOrigin, recordAuditEvent, systemActor, type Actor, type RequestOrigin } from './audit.ts';
import { requirePermission, type AdminContext } from './authorization.ts';
import { isBuiltInClient } from './built-in-clients.ts';
import { generateClientId, generateClientSecret, hashClientSecret } from './client-secrets.ts';
import { auditBase } from './org-units.ts';

/**
 * Which OIDC client a person registers; each kind fixes how it authenticates and which grants it gets.
 * A `device` is a shared screen or kiosk (RFC 8628): it keeps no secret and has no browser of its own,
 * so people sign it in from their phones with the code it shows.
 */
export const clientKinds = ['web', 'spa', 'native', 'service', 'device'] as const;

/** Kinds without redirect URIs: they never send a browser to /auth. */
const redirectless: readonly ClientKind[] = ['service', 'device'];
const deviceCodeGrant = 'urn:ietf:params:oauth:grant-type:device_code';
export type ClientKind = (typeof clientKinds)[number];

const loopbackHosts = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * A native app's own URI scheme, named after a domain its publisher controls (RFC 8252 §7.1), such
 * as `vn.gov.tiengiang.benhvien:/callback`: the reverse-DNS form keeps apps from claiming each other's.
 */
const privateUseScheme = /^[a-z][a-z0-9+-]*(\.[a-z0-9+-]+)+:$/;

/**
 * What can be wrong with a redirect URI (or another URI a client registers), as a stable code: the
 * developer portal shows each in the page's language, the CLI and the API in English. This is the
 * one lint, used by every way a client is registered (CLI, admin API, portal, /reg).
 */
export const uriProblems = ['not_absolute', 'fragment', 'wildcard', 'https_required', 'native_scheme'] as const;
export type UriProblem = (typeof uriProblems)[number];

export const uriProblemMessages: Record<UriProblem, string> = {
  not_absolute: 'is not an absolute URL',
  fragment: 'must not have a fragment',
  wildcard: 'must not contain a wildcard',
  https_required: 'must use https (http is allowed only for localhost)',
  native_scheme: 'must use https, loopback http, or a reverse-domain scheme such as vn.gov.example.app:/',
};

/**
 * Redirect URIs are matched exactly, so they are checked when registered: absolute, no fragment, no
 * wildcard, and https unless the host is this machine (a native app's or a developer's loopback).
 * Native apps may also use a private-use scheme.
 */
export function lintClientUri(value: string, kind: ClientKind): UriProblem[] {
  if (!URL.canParse(value)) return ['not_absolute'];
  const url = new URL(value);
  const problems: UriProblem[] = [];
  if (url.hash || value.includes('#')) problems.push('fragment');
  if (value.includes('*')) problems.push('wildcard');
  if (url.protocol === 'https:') return problems;
  if (url.protocol === 'http:') {
    if (!loopbackHosts.has(url.hostname)) problems.push('https_required');
    return problems;
  }
  if (kind === 'native' && privateUseScheme.test(url.protocol)) return problems;
  problems.push(kind === 'native' ? 'native_scheme' : 'https_required');
  return problems;
}

/**
 * A bad URI is a form problem that the developer portal shows in the page's language: each stable
 * code has its catalog entry (developers.problem.<code>), with the URI at fault, while the API and
 * the CLI say it in English.
 */
function checkRedirectUri(value: string, kind: ClientKind, ctx: z.RefinementCtx, path: (string | number)[]): void {
  for (const problem of lintClientUri(value, kind)) {
    addLocalizedIssue(ctx, localizable(`"${value}" ${uriProblemMessages[problem]}`, `developers.problem.${problem}`, { uri: value }), path);
  }
}

/** The grants each kind of client may hold; the first is the one it cannot do without. */
export const grantTypesOfKind: Readonly<Record<ClientKind, readonly string[]>> = {
  web: ['authorization_code', 'refresh_token'],
  spa: ['authorization_code', 'refresh_token'],
  native: ['authorization_code', 'refresh_token'],
  service: ['client_credentials'],
  device: [deviceCodeGrant, 'refresh_token'],
};

/** The scopes an app may ask for; an app that names some is limited to those (oidc-provider's client `scope`). */
export const clientScopes = ['openid', 'profile', 'email', 'phone', 'gov', 'offline_access'] as const;

const registrationSchema = z
  .object({
    name: z.string().trim().min(1, 'a client needs a name').max(200),
    kind: z.enum(clientKinds).default('web'),
    redirectUris: z.array(z.string()).default([]),
    postLogoutRedirectUris: z.array(z.string()).default([]),
    backchannelLogoutUri: z.string().optional(),
    /** Shown nowhere yet (the sign-in pages' CSP allows only our own images), kept as logo_uri for later and for /reg. */
    logoUri: z.string().optional(),
    /** Grants beyond the kind's own (a refresh token, say); omitted: every grant the kind may hold. */
    grantTypes: z.array(z.string()).optional(),
    /** Omitted: every scope the provider offers. */
    scopes: z.array(z.enum(clientScopes)).optional(),
    firstParty: z.boolean().default(false),
    /** Every sign-in to this app needs a second factor (the hospital system, say). */
    mfaRequired: z.boolean().default(false),
    /**
     * How a confidential client proves itself at the token endpoint: its secret (client_secret_basic),
     * or a JWT signed with one of its registered keys (private_key_jwt, RFC 7523), which needs no secret.
     */
    authMethod: z.enum(['client_secret_basic', 'private_key_jwt']).default('client_secret_basic'),
    /** The client's public keys, for private_key_jwt and signed request objects (RFC 9101): by value or by URL. */
    jwks: z.object({ keys: z.array(z.record(z.string(), z.unknown())).min(1) }).optional(),
    jwksUri: z.string().optional(),
    /** Authorization requests only through PAR (RFC 9126). */
    requirePar: z.boolean().default(false),
    /** The high-security profile (oidc/high-security.ts): PAR, PKCE, DPoP, private_key_jwt, short tokens. */
    highSecurity: z.boolean().default(false),
  })
  .superRefine((input, ctx) => {
    input.redirectUris.forEach((uri, index) => checkRedirectUri(uri, input.kind, ctx, ['redirectUris', index]));
    input.postLogoutRedirectUris.forEach((uri, index) => checkRedirectUri(uri, input.kind, ctx, ['postLogoutRedirectUris', index]));
    // The back channel is a server-to-server call: never a native app's scheme.
    if (input.backchannelLogoutUri !== undefined) checkRedirectUri(input.backchannelLogoutUri, 'web', ctx, ['backchannelLogoutUri']);
    if (input.logoUri !== undefined && !(URL.canParse(input.logoUri) && new URL(input.logoUri).protocol === 'https:')) {
      addLocalizedIssue(ctx, localizable(`the logo "${input.logoUri}" must be an https URL`, 'developers.problem.logo_https', { uri: input.logoUri }), ['logoUri']);
    }
    if (redirectless.includes(input.kind) && input.redirectUris.length > 0) {
      addLocalizedIssue(ctx, localizable(`a ${input.kind} client has no redirect URIs`, 'developers.problem.redirect_uri_not_allowed'), ['redirectUris']);
    }
    if (!redirectless.includes(input.kind) && input.redirectUris.length === 0) {
      addLocalizedIssue(ctx, localizable('at least one redirect URI is required', 'developers.problem.redirect_uri_required'), ['redirectUris']);
    }
    if (input.grantTypes !== undefined) {
      const allowed = grantTypesOfKind[input.kind];
      for (const grant of input.grantTypes.filter((grant) => !allowed.includes(grant))) {
        addLocalizedIssue(ctx, localizable(`a ${input.kind} client cannot use the ${grant} grant; it may use ${allowed.join(', ')}`, 'developers.problem.grant_type_not_allowed', { uri: grant }), ['grantTypes']);
      }
      if (!input.grantTypes.includes(allowed[0]!)) {
        addLocalizedIssue(ctx, localizable(`a ${input.kind} client needs the ${allowed[0]!} grant`, 'developers.problem.grant_type_missing', { uri: allowed[0]! }), ['grantTypes']);
      }
    }
    if (input.jwksUri !== undefined) checkRedirectUri(input.jwksUri, 'web', ctx, ['jwksUri']);
    if (input.jwks && input.jwksUri !== undefined) ctx.addIssue({ code: 'custom', path: ['jwks'], message: 'register keys by value or by URL, not both' });
    if (input.authMethod === 'private_key_jwt' && !input.jwks && input.jwksUri === undefined) {
      ctx.addIssue({ code: 'custom', path: ['authMethod'], message: 'private_key_jwt needs the client\'s public keys (a JWKS or its URL)' });
    }
    if (input.authMethod === 'private_key_jwt' && !(input.kind === 'web' || input.kind === 'service')) {
      ctx.addIssue({ code: 'custom', path: ['authMethod'], message: 'a public client (spa, native, device) has no way to authenticate; only web and service clients use private_key_jwt' });
    }
    if (input.highSecurity && (input.kind !== 'web' || input.authMethod !== 'private_key_jwt')) {
      ctx.addIssue({ code: 'custom', path: ['highSecurity'], message: 'the high-security profile is for web clients authenticating with private_key_jwt' });
    }
  });

/** Checks a registration without storing anything: the developer portal shows each issue by its field. */
export function checkRegistration(registration: ClientRegistration) {
  return registrationSchema.safeParse(registration);
}

export type ClientRegistration = z.input<typeof registrationSchema>;

/** An admin role for a service client: global, or over the subtree of the unit with this code. */
export interface ServiceRole {
  readonly role: AdminRole;
  readonly orgUnitCode: string | null;
}

export interface RegisteredClient {
  readonly clientId: string;
  /** Shown once; only its hash is stored. Null for public clients and those authenticating with private_key_jwt. */
  readonly clientSecret: string | null;
  readonly metadata: ClientMetadata;
}

export interface ClientDeps {
  readonly db: Kysely<Database>;
  /** Checks metadata the way the OIDC provider will read it, so nothing unusable is stored. */
  readonly validateMetadata: (metadata: ClientMetadata) => Promise<void>;
}

export async function registerClient(
  deps: ClientDeps,
  registration: ClientRegistration,
  options: {
    serviceRoles?: readonly ServiceRole[];
    actor?: Actor;
    origin?: RequestOrigin;
    /** The developer who registers it from the portal: they own it, and it waits for approval. */
    owner?: { readonly userId: string };
  } = {},
): Promise<RegisteredClient> {
  const parsed = checkRegistration(registration);
  if (!parsed.success) {
    throw invalidInput(parsed.error.issues.map((issue) => issue.message).join('; '));
  }
  const input = parsed.data;
  const clientId = generateClientId();
  const isPublic = input.kind === 'spa' || input.kind === 'native' || input.kind === 'device';
  const clientSecret = isPublic || input.authMethod === 'private_key_jwt' ? null : generateClientSecret();

  const metadata: ClientMetadata = {
    client_id: clientId,
    client_name: input.name,
    ...(redirectless.includes(input.kind)
      ? { grant_types: [...(input.grantTypes ?? grantTypesOfKind[input.kind])], response_types: [], redirect_uris: [] }
      : {
          grant_types: [...(input.grantTypes ?? grantTypesOfKind[input.kind])],
          response_types: ['code'],
          redirect_uris: input.redirectUris,
          post_logout_redirect_uris: input.postLogoutRedirectUris,
        }),
    application_type: input.kind === 'native' || input.kind === 'device' ? 'native' : 'web',
    token_endpoint_auth_method: isPublic ? 'none' : input.authMethod,
    ...(input.logoUri !== undefined ? { logo_uri: input.logoUri } : {}),
    ...(input.scopes ? { scope: [...new Set(input.scopes)].join(' ') } : {}),
    ...(input.jwks ? { jwks: input.jwks } : {}),
    ...(input.jwksUri !== undefined ? { jwks_uri: input.jwksUri } : {}),
    ...(input.requirePar ? { require_pushed_authorization_requests: true } : {}),
    ...(input.highSecurity ? { high_security: true } : {}),
    ...(input.backchannelLogoutUri
      ? { backchannel_logout_uri: input.backchannelLogoutUri, backchannel_logout_session_required: true }
      : {}),
  };

  const clientSecretHash = clientSecret === null ? null : hashClientSecret(clientSecret);
  try {
    await deps.validateMetadata(clientSecretHash ? { ...metadata, client_secret: clientSecretHash } : metadata);
  } catch (error) {
    const described = (error as { error_description?: string }).error_description ?? (error as Error).message;
    throw invalidInput(`the client metadata is not valid: ${described}`);
  }
  const serviceRoles = options.serviceRoles ?? [];
  assertThat(serviceRoles.length === 0 || input.kind === 'service', invalidInput('only a service client holds admin roles'));
  assertThat(!(options.owner && (input.firstParty || serviceRoles.length > 0)), invalidInput('an app registered by a developer is never first-party and holds no admin role'));
  await deps.db.transaction().execute(async (trx) => {
    await insertClient(trx, {
      client_id: clientId,
      client_secret_hash: clientSecretHash,
      metadata,
      first_party: input.firstParty,
      mfa_required: input.mfaRequired,
      // Service clients exist to automate against the admin API (their roles, not this flag, say what
      // they may do there); the admin console will be the one other client with this access.
      admin_api_access: input.kind === 'service' && !options.owner,
      status: options.owner ? 'pending' : 'active',
    });
    if (options.owner) await insertClientOwner(trx, { client_id: clientId, user_id: options.owner.userId, added_by: `user:${options.owner.userId}` });
    const roles = [];
    for (const { role, orgUnitCode } of serviceRoles) {
      const unit = orgUnitCode === null ? null : await findOrgUnitByCode(trx, orgUnitCode);
      assertThat(orgUnitCode === null || unit, () => invalidInput(`there is no org unit with the code ${orgUnitCode ?? ''}`));
      assertThat(!(role === 'super_admin' && unit), invalidInput('super_admin is a global role: give it without @ORG_CODE'));
      await insertRoleAssignment(trx, { clientId }, { role, orgUnitId: unit?.id ?? null, grantedBy: 'system' });
      roles.push({ role, org_unit_id: unit?.id ?? null, org_unit_code: unit?.code ?? null });
    }
    await recordAuditEvent(trx, {
      actor: options.actor ?? systemActor, origin: options.origin ?? noOrigin, action: 'client.register', target: { type: 'client', id: clientId },
      after: {
        client_name: input.name, kind: input.kind, status: options.owner ? 'pending' : 'active', owner: options.owner?.userId ?? null, first_party: input.firstParty, mfa_required: input.mfaRequired, redirect_uris: input.redirectUris, roles,
        token_endpoint_auth_method: metadata.token_endpoint_auth_method, require_pushed_authorization_requests: input.requirePar || input.highSecurity, high_security: input.highSecurity,
      },
    });
  });
  return { clientId, clientSecret, metadata };
}

/**
 * Disables or enables an app, for the whole province (global administrators). A disabled app is
 * unknown to the provider at once: its tokens stop working, nobody can sign in to it, and it can
 * call nothing. Mekong ID's own consoles cannot be switched off this way.
 */
export async function changeClientStatus(db: Kysely<Database>, context: AdminContext, clientId: string, status: 'active' | 'disabled'): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const client = await findClient(trx, clientId);
    assertThat(client, () => new AppError('not_found', localizable(`no app with client id ${clientId}`, 'problem.client.not_found', { id: clientId }), 404));
    requirePermission(context.principal, 'apps.assign', null, {
      action: 'client.status', target: { type: 'client', id: clientId }, message: localizable('disabling or enabling an app concerns the whole province: it needs a global administrator', 'problem.client.status_needs_global'),
    });
    assertThat(!isBuiltInClient(clientId), () => conflict(localizable('Mekong ID\'s own consoles cannot be disabled', 'problem.client.built_in')));
    // A pending app goes live only through its approval (domain/developer-apps.ts), where nobody approves their own.
    assertThat(client.status === 'active' || client.status === 'disabled', () => conflict(localizable(`the app is ${client.status}: approve or reject it first`, 'problem.client.not_decided')));
    if (client.status === status) return;
    await setClientStatus(trx, clientId, status);
    await recordAuditEvent(trx, {
      ...auditBase(context), action: status === 'disabled' ? 'client.disable' : 'client.enable', target: { type: 'client', id: clientId },
      before: { status: client.status }, after: { status },
    });
  });
}

/**
 * The kind of a client registered at /reg (RFC 7591), read from its metadata the way registerClient
 * writes it, so that the same URI lint applies to it.
 */
export function kindOfMetadata(metadata: Record<string, unknown>): ClientKind {
  const grants = Array.isArray(metadata['grant_types']) ? (metadata['grant_types'] as unknown[]) : ['authorization_code'];
  if (grants.includes(deviceCodeGrant)) return 'device';
  if (grants.length > 0 && grants.every((grant) => grant === 'client_credentials')) return 'service';
  if (metadata['application_type'] === 'native') return 'native';
  return metadata['token_endpoint_auth_method'] === 'none' ? 'spa' : 'web';
}

/** The URI lint over registered metadata, as "field: problem" sentences; empty when all is well. */
export function lintClientMetadata(metadata: Record<string, unknown>): { field: string; message: string }[] {
  const kind = kindOfMetadata(metadata);
  const strings = (value: unknown) => (Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : typeof value === 'string' ? [value] : []);
  const checks: [string, ClientKind][] = [['redirect_uris', kind], ['post_logout_redirect_uris', kind], ['backchannel_logout_uri', 'web'], ['jwks_uri', 'web']];
  const found = checks.flatMap(([field, asKind]) => strings(metadata[field]).flatMap((uri) =>
    lintClientUri(uri, asKind).map((problem) => ({ field, message: `"${uri}" ${uriProblemMessages[problem]}` }))));
  for (const logo of strings(metadata['logo_uri'])) {
    if (!(URL.canParse(logo) && new URL(logo).protocol === 'https:')) found.push({ field: 'logo_uri', message: `the logo "${logo}" must be an https URL` });
  }
  return found;
}
