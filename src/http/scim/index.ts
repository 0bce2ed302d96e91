import { bodyParser } from '@koa/bodyparser';
import Router from '@koa/router';
import type { Context } from 'koa';

import { findNulCharacter } from '../../db/nul-characters.ts';
import type { BackchannelLogout } from '../../domain/users.ts';
import { defaultResultsPerPage, maxResultsPerPage, resourceTypeDocument, schemaDocument, serviceProviderConfig } from '../../domain/scim/discovery.ts';
import {
  createScimGroup, deleteScimGroup, getScimGroup, listScimGroupsFor, patchScimGroup, replaceScimGroup,
} from '../../domain/scim/groups.ts';
import { project, readProjection, weakEtag, type Projection } from '../../domain/scim/resources.ts';
import { allSchemas, resourceTypes, scimSchemas } from '../../domain/scim/schemas.ts';
import {
  createScimUser, deleteScimUser, getScimUser, listScimUsersFor, patchScimUser, replaceScimUser,
  type ScimCaller, type ScimDeps, type ScimListQuery, type VersionedResource,
} from '../../domain/scim/users.ts';
import type { JsonObject } from '../../domain/scim/patch.ts';
import { ScimError } from '../../errors.ts';
import type { Logger } from '../../logger.ts';
import { auditRefusals, rememberAdminContext } from '../admin-context.ts';
import { createScimAuthentication, type ScimAuthenticationDeps } from './authentication.ts';
import { scimContentType, scimPrefix } from './errors.ts';

export interface ScimRouterDeps extends ScimAuthenticationDeps {
  readonly logger: Logger;
  readonly backchannelLogout: BackchannelLogout;
  readonly masterKey: Buffer;
}

/** The SCIM operations of one resource type, so that Users and Groups are served by one set of routes. */
interface ResourceOperations {
  list(deps: ScimDeps, caller: ScimCaller, query: ScimListQuery): Promise<{ total: number; resources: JsonObject[] }>;
  get(deps: ScimDeps, caller: ScimCaller, id: string): Promise<VersionedResource>;
  create(deps: ScimDeps, caller: ScimCaller, body: unknown): Promise<VersionedResource>;
  replace(deps: ScimDeps, caller: ScimCaller, id: string, expectedVersion: number | undefined, body: unknown): Promise<VersionedResource>;
  patch(deps: ScimDeps, caller: ScimCaller, id: string, expectedVersion: number | undefined, body: unknown): Promise<VersionedResource>;
  remove(deps: ScimDeps, caller: ScimCaller, id: string, expectedVersion: number | undefined): Promise<void>;
}

const operations: Record<'User' | 'Group', ResourceOperations> = {
  User: { list: listScimUsersFor, get: getScimUser, create: createScimUser, replace: replaceScimUser, patch: patchScimUser, remove: deleteScimUser },
  Group: { list: listScimGroupsFor, get: getScimGroup, create: createScimGroup, replace: replaceScimGroup, patch: patchScimGroup, remove: deleteScimGroup },
};

function send(ctx: Context, status: number, body: unknown, version?: number): void {
  ctx.status = status;
  ctx.set('Cache-Control', 'no-store');
  if (version !== undefined) ctx.set('ETag', weakEtag(version));
  ctx.type = scimContentType;
  ctx.body = body;
}

/** If-Match names the version the client read: W/"3" or "3"; "*" (or nothing) means any. */
function expectedVersionOf(ctx: Context): number | undefined {
  const header = ctx.get('if-match').trim();
  if (header === '' || header === '*') return undefined;
  const match = /^(?:W\/)?"(\d{1,15})"$/.exec(header);
  if (!match) throw new ScimError('invalidValue', 'If-Match is the ETag of the resource as you read it, such as W/"3"');
  return Number(match[1]);
}

function integer(value: unknown, name: string): number | undefined {
  if (value === undefined) return undefined;
  const text = typeof value === 'number' ? String(value) : value;
  if (typeof text !== 'string' || !/^-?\d{1,9}$/.test(text.trim())) throw new ScimError('invalidValue', `${name} is a whole number`);
  return Number(text);
}

function optionalText(value: unknown, name: string): string | undefined {
  if (value === undefined) return undefined;
  if (Array.isArray(value) && value.every((item) => typeof item === 'string')) return value.join(',');
  if (typeof value !== 'string') throw new ScimError('invalidValue', `${name} is given once, as text`);
  return value;
}

/** The list parameters (RFC 7644 §3.4.2), from the query string or a /.search body alike. */
function readListQuery(source: Record<string, unknown>): { query: ScimListQuery; projection: Projection } {
  const sortOrder = optionalText(source['sortOrder'], 'sortOrder');
  if (sortOrder !== undefined && !['ascending', 'descending'].includes(sortOrder.toLowerCase())) {
    throw new ScimError('invalidValue', 'sortOrder is "ascending" or "descending"');
  }
  const filter = optionalText(source['filter'], 'filter');
  // An index below 1 is read as 1, a negative count as 0, and a count above the maximum as the maximum (RFC 7644 §3.4.2.4).
  const startIndex = Math.max(1, integer(source['startIndex'], 'startIndex') ?? 1);
  const count = Math.min(maxResultsPerPage, Math.max(0, integer(source['count'], 'count') ?? defaultResultsPerPage));
  return {
    query: { filter: filter?.trim() === '' ? undefined : filter, sortBy: optionalText(source['sortBy'], 'sortBy'), descending: sortOrder?.toLowerCase() === 'descending', startIndex, count },
    projection: readProjection(optionalText(source['attributes'], 'attributes'), optionalText(source['excludedAttributes'], 'excludedAttributes')),
  };
}

/** SCIM 2.0 at /scim/v2 (RFC 7643, RFC 7644): Users and Groups for apps, and the discovery documents. */
export function scimRouter(deps: ScimRouterDeps): Router {
  const authenticate = createScimAuthentication(deps);
  const router = new Router({ prefix: scimPrefix });
  const baseUrl = `${deps.issuer}${scimPrefix}`;
  const parseBody = bodyParser({ enableTypes: ['json'], extendTypes: { json: ['application/scim+json'] }, jsonLimit: '1mb', encoding: 'utf-8' });

  // The discovery documents describe; they grant nothing, and clients read them before they hold a token.
  router.get('/ServiceProviderConfig', (ctx) => send(ctx, 200, serviceProviderConfig(baseUrl)));
  router.get('/ResourceTypes', (ctx) => {
    const resources = (['User', 'Group'] as const).map((name) => resourceTypeDocument(name, baseUrl));
    send(ctx, 200, { schemas: [scimSchemas.listResponse], totalResults: resources.length, startIndex: 1, itemsPerPage: resources.length, Resources: resources });
  });
  router.get('/ResourceTypes/:name', (ctx) => {
    const name = Object.keys(resourceTypes).find((candidate) => candidate.toLowerCase() === (ctx.params['name'] ?? '').toLowerCase()) as 'User' | 'Group' | undefined;
    if (!name) throw new ScimError(undefined, `no resource type ${ctx.params['name'] ?? ''}; there are User and Group`, 404);
    send(ctx, 200, resourceTypeDocument(name, baseUrl));
  });
  router.get('/Schemas', (ctx) => {
    send(ctx, 200, { schemas: [scimSchemas.listResponse], totalResults: allSchemas.length, startIndex: 1, itemsPerPage: allSchemas.length, Resources: allSchemas.map((schema) => schemaDocument(schema, baseUrl)) });
  });
  router.get('/Schemas/:id', (ctx) => {
    const schema = allSchemas.find((candidate) => candidate.id.toLowerCase() === (ctx.params['id'] ?? '').toLowerCase());
    if (!schema) throw new ScimError(undefined, `no schema ${ctx.params['id'] ?? ''}`, 404);
    send(ctx, 200, schemaDocument(schema, baseUrl));
  });

  router.use(auditRefusals(deps));
  const caller = async (ctx: Context) => {
    const found = await authenticate(ctx);
    rememberAdminContext(ctx, found.context);
    return found;
  };
  /** The body, read only once the caller is known (an anonymous caller cannot make the server parse a megabyte). */
  const body = async (ctx: Context): Promise<unknown> => {
    if (!ctx.is('application/scim+json', 'application/json')) {
      throw new ScimError(undefined, 'send the body as application/scim+json (or application/json)', 415);
    }
    await parseBody(ctx, () => Promise.resolve());
    const parsed = (ctx.request as { body?: unknown }).body;
    const nul = findNulCharacter(parsed, 'body');
    if (nul !== null) throw new ScimError('invalidValue', `${nul}: text cannot contain the NUL character (U+0000)`);
    return parsed;
  };

  for (const [name, resource] of Object.entries(operations) as ['User' | 'Group', ResourceOperations][]) {
    const type = resourceTypes[name];
    const list = async (ctx: Context, who: ScimCaller, source: Record<string, unknown>) => {
      const { query, projection } = readListQuery(source);
      const { total, resources } = await resource.list(deps, who, query);
      send(ctx, 200, {
        schemas: [scimSchemas.listResponse], totalResults: total, startIndex: query.startIndex, itemsPerPage: resources.length,
        Resources: resources.map((item) => project(item, type, projection)),
      });
    };
    const answer = (ctx: Context, status: number, result: VersionedResource) => {
      const { projection } = readListQuery({ attributes: ctx.query['attributes'], excludedAttributes: ctx.query['excludedAttributes'] });
      const meta = result.resource['meta'] as JsonObject;
      if (status === 201 && typeof meta['location'] === 'string') ctx.set('Location', meta['location']);
      send(ctx, status, project(result.resource, type, projection), result.version);
    };

    router.get(type.endpoint, async (ctx) => list(ctx, await caller(ctx), ctx.query));
    // RFC 7644 §3.4.3: the same query in a body, for filters too long or too private for a URL.
    router.post(`${type.endpoint}/.search`, async (ctx) => {
      const who = await caller(ctx);
      const search = await body(ctx);
      if (typeof search !== 'object' || search === null || Array.isArray(search)) throw new ScimError('invalidSyntax', `a search is a ${scimSchemas.searchRequest} object`);
      await list(ctx, who, search as Record<string, unknown>);
    });
    router.post(type.endpoint, async (ctx) => {
      const who = await caller(ctx);
      answer(ctx, 201, await resource.create(deps, who, await body(ctx)));
    });
    router.get(`${type.endpoint}/:id`, async (ctx) => {
      const result = await resource.get(deps, await caller(ctx), ctx.params['id'] ?? '');
      if (ctx.get('if-none-match').trim() === weakEtag(result.version)) {
        ctx.status = 304;
        ctx.set('ETag', weakEtag(result.version));
        return;
      }
      answer(ctx, 200, result);
    });
    router.put(`${type.endpoint}/:id`, async (ctx) => {
      const who = await caller(ctx);
      answer(ctx, 200, await resource.replace(deps, who, ctx.params['id'] ?? '', expectedVersionOf(ctx), await body(ctx)));
    });
    router.patch(`${type.endpoint}/:id`, async (ctx) => {
      const who = await caller(ctx);
      answer(ctx, 200, await resource.patch(deps, who, ctx.params['id'] ?? '', expectedVersionOf(ctx), await body(ctx)));
    });
    router.delete(`${type.endpoint}/:id`, async (ctx) => {
      await resource.remove(deps, await caller(ctx), ctx.params['id'] ?? '', expectedVersionOf(ctx));
      ctx.status = 204;
    });
  }

  // Below /scim/v2 nothing falls through to oidc-provider: an unknown path or method is a SCIM error.
  router.all('/{*rest}', (ctx) => {
    throw new ScimError(undefined, `SCIM has no ${ctx.method} ${ctx.path}; see ${scimPrefix}/ResourceTypes`, 404);
  });
  return router;
}
