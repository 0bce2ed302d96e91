import type { Kysely } from 'kysely';
import { z } from 'zod';

import { isUniqueViolation } from '../db/errors.ts';
import { findClient, isClientOwner } from '../db/queries/clients.ts';
import {
  findResourceServer, findResourceServerByIdentifier, insertResourceServer, listResourceServerGrants, listResourceServers, listResourceServerScopes,
  replaceResourceServerGrant, replaceResourceServerScopes, updateResourceServer, type ResourceServerGrant,
} from '../db/queries/resource-servers.ts';
import { accessTokenFormats, type Database, type ResourceServer, type ResourceServerScope } from '../db/schema.ts';
import { addLocalizedIssue, AppError, assertThat, conflict, invalidInput, localizable } from '../errors.ts';
import { recordAuditEvent } from './audit.ts';
import { AccessDenied, isPermitted, requirePermission, scopeOf, type AdminContext, type Principal } from './authorization.ts';
import { isBuiltInClient } from './built-in-clients.ts';
import { clientScopes, lintClientUri, uriProblemMessages, type UriProblem } from './clients.ts';
import { appInCare } from './developer-apps.ts';
import { auditBase } from './org-units.ts';

/**
 * Resource servers: APIs that registered apps serve, besides Mekong ID's own (the admin API and
 * SCIM, see oidc/provider.ts). Each has an identifier, the resource indicator (RFC 8707) that its
 * tokens carry as `aud`; the scopes it defines; how long its tokens live and in which format; and
 * the app that serves it (its owner app). The owner app's developers declare it and decide which
 * clients may get tokens for it, with which scopes (grants); a global administrator approves it
 * first, never one who declared it or owns its app. Like Auth0's APIs and client grants.
 */

const target = (id: string) => ({ type: 'resource_server', id });
const holderOf = (principal: Principal) => `${principal.actor.type}:${principal.actor.id ?? ''}`;
const isGlobalAdmin = (principal: Principal) => scopeOf(principal, 'apps.assign').global;

/** What can be wrong with a declaration besides a bad identifier (whose problems are the URI lint's codes). */
export type ResourceServerProblem = 'identifier_reserved' | 'scope_name' | 'scope_reserved' | 'scope_duplicate' | 'scopes_required';

/** An OAuth scope token (RFC 6749 §3.3), kept short enough to read on a consent page. */
const scopeToken = /^[\x21\x23-\x5B\x5D-\x7E]{1,100}$/;

/** Tokens for a registered API live 1 minute to 1 day; 10 minutes unless told, like the admin API's. */
export const defaultAccessTokenSeconds = 10 * 60;

/** A declaration's problem: English for the API, and for the portal the catalog entry of its stable code (developers.problem.<code>), as the URI lint's. */
function addIssue(ctx: z.RefinementCtx, path: (string | number)[], message: string, params: { code: UriProblem | ResourceServerProblem; uri?: string }): void {
  addLocalizedIssue(ctx, { english: message, localized: { key: `developers.problem.${params.code}`, params: { uri: params.uri ?? '' } } }, path);
}

const scopesSchema = z.array(z.object({ name: z.string().trim(), description: z.string().trim().min(1, 'describe what each scope lets a token do').max(300) })).max(100)
  .superRefine((scopes, ctx) => {
    if (scopes.length === 0) addIssue(ctx, [], 'define at least one scope', { code: 'scopes_required' });
    const seen = new Set<string>();
    scopes.forEach((scope, index) => {
      if (!scopeToken.test(scope.name)) {
        addIssue(ctx, [index, 'name'], `"${scope.name}" is not a scope name: printable characters without spaces, quotes or backslashes, 100 at most`, { code: 'scope_name', uri: scope.name });
      } else if ((clientScopes as readonly string[]).includes(scope.name)) {
        addIssue(ctx, [index, 'name'], `"${scope.name}" is one of OpenID Connect's own scopes; name the API's scopes otherwise`, { code: 'scope_reserved', uri: scope.name });
      } else if (seen.has(scope.name)) {
        addIssue(ctx, [index, 'name'], `the scope "${scope.name}" is defined twice`, { code: 'scope_duplicate', uri: scope.name });
      }
      seen.add(scope.name);
    });
  });

const settingsSchema = z.object({
  name: z.string().trim().min(1, 'the API needs a name').max(200),
  scopes: scopesSchema,
  access_token_seconds: z.number().int().min(60, 'tokens live a minute at least').max(86_400, 'tokens live a day at most').default(defaultAccessTokenSeconds),
  access_token_format: z.enum(accessTokenFormats).default('jwt'),
});

/** A declaration; the identifier is linted like a redirect URI (https, or http on loopback; no fragment, no wildcard). */
export const resourceServerSchema = settingsSchema.extend({
  identifier: z.string().trim().max(2000).superRefine((value, ctx) => {
    for (const problem of lintClientUri(value, 'web')) addIssue(ctx, [], `the identifier "${value}" ${uriProblemMessages[problem]}`, { code: problem, uri: value });
  }),
  owner_client_id: z.string().trim().min(1, 'name the app that serves the API').max(200),
});
export type ResourceServerDeclaration = z.input<typeof resourceServerSchema>;
export const resourceServerChangeSchema = settingsSchema.partial();
export type ResourceServerChange = z.input<typeof resourceServerChangeSchema>;

export const resourceServerGrantSchema = z.object({ scopes: z.array(z.string().trim().min(1).max(100)).min(1, 'grant at least one scope; to take the API away, revoke the grant').max(100) });

/** Checks a declaration without storing anything; the developer portal shows each issue by its field. */
export function checkResourceServer(declaration: ResourceServerDeclaration, issuer: string) {
  return resourceServerSchema.superRefine((input, ctx) => {
    // Mekong ID's own APIs live on its origin; nothing registered may pose as one of them.
    if (URL.canParse(input.identifier) && new URL(input.identifier).origin === new URL(issuer).origin) {
      addIssue(ctx, ['identifier'], `the identifier "${input.identifier}" is on Mekong ID's own address, reserved for its own APIs`, { code: 'identifier_reserved', uri: input.identifier });
    }
  }).safeParse(declaration);
}

function parsed<T>(result: z.ZodSafeParseResult<T>): T {
  if (!result.success) throw invalidInput(result.error.issues.map((issue) => issue.message).join('; '));
  return result.data;
}

export interface ResourceServerDeps {
  readonly db: Kysely<Database>;
  readonly issuer: string;
}

export interface ResourceServerDetails extends ResourceServer {
  readonly scopes: readonly Pick<ResourceServerScope, 'name' | 'description'>[];
}

/** The owner app must be able to prove itself (it introspects tokens): a confidential app, not one of Mekong ID's own. */
async function servingApp(db: Kysely<Database>, context: AdminContext, clientId: string, action: string) {
  const client = await appInCare(db, context, clientId, action);
  assertThat(client.status !== 'rejected' && client.status !== 'disabled', () => invalidInput(localizable(`the app ${clientId} is ${client.status}: an API needs an app that can serve it`, 'problem.api.app_cannot_serve', { id: clientId })));
  assertThat(client.metadata['token_endpoint_auth_method'] !== 'none',
    () => invalidInput(localizable('the app that serves an API must be confidential (a web app or a service, which can prove itself): a public app cannot introspect tokens', 'problem.api.public_app')));
  return client;
}

/** The resource server, if the principal may look after it: an owner of its app, or a global administrator. */
async function resourceServerInCare(db: Kysely<Database>, context: AdminContext, id: string, action: string): Promise<ResourceServer> {
  const server = z.uuid().safeParse(id).success ? await findResourceServer(db, id) : undefined;
  assertThat(server, () => new AppError('not_found', localizable(`no API with id ${id}`, 'problem.api.not_found'), 404));
  try {
    await appInCare(db, context, server.owner_client_id, action);
  } catch (error) {
    // A developer who does not own the serving app hears why in the API's terms; anyone else keeps the app's refusal.
    if (error instanceof AccessDenied && isPermitted(context.principal, 'clients.register')) {
      throw new AccessDenied(localizable('this API belongs to other developers: only the owners of the app that serves it and the province\'s administrators may see or change it', 'problem.api.not_owner'), action, target(id));
    }
    throw error;
  }
  return server;
}

async function withScopes(db: Kysely<Database>, servers: readonly ResourceServer[]): Promise<ResourceServerDetails[]> {
  const scopes = await listResourceServerScopes(db, servers.map((server) => server.id));
  return servers.map((server) => ({ ...server, scopes: scopes.filter((scope) => scope.resource_server_id === server.id).map(({ name, description }) => ({ name, description })) }));
}

/** Declares an API served by one of the developer's apps (any app, for a global administrator): pending until approved. */
export async function declareResourceServer(deps: ResourceServerDeps, context: AdminContext, declaration: ResourceServerDeclaration): Promise<ResourceServerDetails> {
  const input = parsed(checkResourceServer(declaration, deps.issuer));
  return deps.db.transaction().execute(async (trx) => {
    await servingApp(trx, context, input.owner_client_id, 'resource_server.declare');
    const existing = await findResourceServerByIdentifier(trx, input.identifier);
    assertThat(!existing, () => conflict(`an API with the identifier ${input.identifier} is already registered${existing?.status === 'rejected' ? ' (and was rejected)' : ''}`));
    const server = await insertResourceServer(trx, {
      identifier: input.identifier, name: input.name, owner_client_id: input.owner_client_id,
      access_token_seconds: input.access_token_seconds, access_token_format: input.access_token_format, declared_by: holderOf(context.principal),
    }).catch((error: unknown) => {
      // Declared twice at once: the other declaration won.
      throw isUniqueViolation(error) ? conflict(`an API with the identifier ${input.identifier} is already registered`, error) : error;
    });
    await replaceResourceServerScopes(trx, server.id, input.scopes);
    await recordAuditEvent(trx, {
      ...auditBase(context), action: 'resource_server.declare', target: target(server.id),
      after: { identifier: input.identifier, name: input.name, owner_client_id: input.owner_client_id, scopes: input.scopes.map((scope) => scope.name), access_token_seconds: input.access_token_seconds, access_token_format: input.access_token_format, status: 'pending' },
    });
    return { ...server, scopes: input.scopes };
  });
}

/** A changed name, scopes, token lifetime or format; a scope dropped leaves every grant holding it. */
export async function changeResourceServer(db: Kysely<Database>, context: AdminContext, id: string, change: ResourceServerChange): Promise<ResourceServerDetails> {
  const input = parsed(resourceServerChangeSchema.safeParse(change));
  return db.transaction().execute(async (trx) => {
    const server = await resourceServerInCare(trx, context, id, 'resource_server.update');
    assertThat(server.status !== 'rejected', () => conflict(localizable('the API was rejected; declare it again', 'problem.api.rejected')));
    const [before] = await withScopes(trx, [server]);
    const { scopes, ...settings } = input;
    if (Object.keys(settings).length > 0) await updateResourceServer(trx, id, settings);
    if (scopes) await replaceResourceServerScopes(trx, id, scopes);
    const [after] = await withScopes(trx, [(await findResourceServer(trx, id))!]);
    await recordAuditEvent(trx, {
      ...auditBase(context), action: 'resource_server.update', target: target(id),
      before: { name: before!.name, scopes: before!.scopes.map((scope) => scope.name), access_token_seconds: before!.access_token_seconds, access_token_format: before!.access_token_format },
      after: { name: after!.name, scopes: after!.scopes.map((scope) => scope.name), access_token_seconds: after!.access_token_seconds, access_token_format: after!.access_token_format },
    });
    return after!;
  });
}

export async function readResourceServer(db: Kysely<Database>, context: AdminContext, id: string): Promise<ResourceServerDetails> {
  const [details] = await withScopes(db, [await resourceServerInCare(db, context, id, 'resource_server.read')]);
  return details!;
}

/** Global administrators see every API; a developer, those served by their own apps. */
export async function listResourceServersInCare(
  db: Kysely<Database>, context: AdminContext, filter: Omit<Parameters<typeof listResourceServers>[1] & object, 'ownedBy'> = {},
): Promise<ResourceServerDetails[]> {
  const { principal } = context;
  if (isGlobalAdmin(principal)) return withScopes(db, await listResourceServers(db, filter));
  const userId = 'userId' in principal.holder ? principal.holder.userId : null;
  if (!userId || !isPermitted(principal, 'clients.register')) {
    throw new AccessDenied(localizable('the registered APIs are for their developers and the province\'s administrators', 'problem.api.list_not_permitted'), 'resource_server.list');
  }
  return withScopes(db, await listResourceServers(db, { ...filter, ownedBy: userId }));
}

/**
 * A global administrator's decision on a pending API. Never by whoever declared it nor by an owner
 * of the app that serves it: a second person looks at every API before apps get tokens for it.
 */
export async function decideOnResourceServer(db: Kysely<Database>, context: AdminContext, id: string, decision: 'approve' | 'reject'): Promise<ResourceServer['status']> {
  const action = decision === 'approve' ? 'resource_server.approve' : 'resource_server.reject';
  return db.transaction().execute(async (trx) => {
    const server = z.uuid().safeParse(id).success ? await findResourceServer(trx, id) : undefined;
    assertThat(server, () => new AppError('not_found', localizable(`no API with id ${id}`, 'problem.api.not_found'), 404));
    requirePermission(context.principal, 'apps.assign', null, { action, target: target(id), message: localizable('approving an API concerns the whole province: it needs a global administrator', 'problem.api.approve_needs_global') });
    const userId = 'userId' in context.principal.holder ? context.principal.holder.userId : null;
    if (server.declared_by === holderOf(context.principal) || (userId && (await isClientOwner(trx, server.owner_client_id, userId)))) {
      throw new AccessDenied(localizable('you declared this API or own the app that serves it: another administrator must approve or reject it', 'problem.api.own_api'), action, target(id));
    }
    assertThat(server.status === 'pending', () => conflict(localizable(`the API is ${server.status}, not waiting for approval`, 'problem.api.not_pending')));
    const status = decision === 'approve' ? 'active' : 'rejected';
    await updateResourceServer(trx, id, { status });
    await recordAuditEvent(trx, { ...auditBase(context), action, target: target(id), before: { status: server.status }, after: { status } });
    return status;
  });
}

/** Disables an API (no new token names it; its owner app no longer introspects its tokens) or enables it again: global administrators. */
export async function changeResourceServerStatus(db: Kysely<Database>, context: AdminContext, id: string, status: 'active' | 'disabled'): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const server = z.uuid().safeParse(id).success ? await findResourceServer(trx, id) : undefined;
    assertThat(server, () => new AppError('not_found', localizable(`no API with id ${id}`, 'problem.api.not_found'), 404));
    requirePermission(context.principal, 'apps.assign', null, {
      action: 'resource_server.status', target: target(id), message: localizable('disabling or enabling an API concerns the whole province: it needs a global administrator', 'problem.api.status_needs_global'),
    });
    assertThat(server.status === 'active' || server.status === 'disabled', () => conflict(localizable(`the API is ${server.status}: approve or reject it first`, 'problem.api.not_decided')));
    if (server.status === status) return;
    await updateResourceServer(trx, id, { status });
    await recordAuditEvent(trx, {
      ...auditBase(context), action: status === 'disabled' ? 'resource_server.disable' : 'resource_server.enable', target: target(id),
      before: { status: server.status }, after: { status },
    });
  });
}

export async function grantsOfResourceServer(db: Kysely<Database>, context: AdminContext, id: string): Promise<ResourceServerGrant[]> {
  await resourceServerInCare(db, context, id, 'resource_server.read');
  return listResourceServerGrants(db, id);
}

/**
 * Lets a client get tokens for the API with exactly these scopes (replacing what it held). The
 * API's owners or a global administrator decide; the client may be anyone's app, but not one of
 * Mekong ID's consoles, nor one that was rejected or disabled.
 */
export async function grantResourceServer(db: Kysely<Database>, context: AdminContext, id: string, clientId: string, grant: z.input<typeof resourceServerGrantSchema>): Promise<ResourceServerGrant> {
  const { scopes } = parsed(resourceServerGrantSchema.safeParse(grant));
  return db.transaction().execute(async (trx) => {
    const server = await resourceServerInCare(trx, context, id, 'resource_server.grant');
    assertThat(server.status !== 'rejected', () => conflict(localizable('the API was rejected: it grants nothing', 'problem.api.rejected_grants_nothing')));
    const client = await findClient(trx, clientId);
    assertThat(client && !isBuiltInClient(clientId), () => invalidInput(localizable(`there is no app with client id ${clientId}`, 'problem.client.not_found', { id: clientId })));
    assertThat(client.status === 'active' || client.status === 'pending', () => invalidInput(localizable(`the app ${clientId} is ${client.status}: it can be granted nothing`, 'problem.api.grantee_unusable', { id: clientId })));
    const [details] = await withScopes(trx, [server]);
    const defined = new Set(details!.scopes.map((scope) => scope.name));
    const unknown = scopes.filter((scope) => !defined.has(scope));
    assertThat(unknown.length === 0, () => invalidInput(localizable(`the API defines no scope ${unknown.join(', ')}; it defines ${[...defined].join(', ')}`, 'problem.api.undefined_scopes', { scopes: unknown.join(', '), defined: [...defined].join(', ') })));
    const [before] = await listResourceServerGrants(trx, id, clientId);
    await replaceResourceServerGrant(trx, { resourceServerId: id, clientId, scopes: [...new Set(scopes)], grantedBy: holderOf(context.principal) }).catch((error: unknown) => {
      throw isUniqueViolation(error) ? conflict('the grant changed at the same moment; read it again and retry', error) : error;
    });
    await recordAuditEvent(trx, {
      ...auditBase(context), action: 'resource_server.grant', target: target(id),
      before: before ? { client_id: clientId, scopes: before.scopes } : null, after: { client_id: clientId, scopes: [...new Set(scopes)].sort() },
    });
    return (await listResourceServerGrants(trx, id, clientId))[0]!;
  });
}

/** Takes the API away from a client: its next token request for it is refused (tokens it holds live out their minutes). */
export async function revokeResourceServerGrant(db: Kysely<Database>, context: AdminContext, id: string, clientId: string): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await resourceServerInCare(trx, context, id, 'resource_server.revoke');
    const [before] = await listResourceServerGrants(trx, id, clientId);
    assertThat(before, () => new AppError('not_found', localizable(`the app ${clientId} holds no grant for this API: nothing to revoke`, 'problem.api.no_grant', { id: clientId }), 404));
    await replaceResourceServerGrant(trx, { resourceServerId: id, clientId, scopes: [], grantedBy: holderOf(context.principal) });
    await recordAuditEvent(trx, { ...auditBase(context), action: 'resource_server.revoke', target: target(id), before: { client_id: clientId, scopes: before.scopes } });
  });
}
