import type { Kysely } from 'kysely';
import { z } from 'zod';

import type { Database, TokenExchangePermission } from '../../../db/schema.ts';
import {
  allowTokenExchange,
  authorizeTokenExchangeAdministration,
  listTokenExchanges,
  revokeTokenExchange,
} from '../../../domain/token-exchange-permissions.ts';
import { decodeCursor, defineRoute, listLimit, listOf, page, type ApiRoute } from '../route.ts';

const permission = z.object({
  client_id: z.string(),
  audience: z.string().describe('the other app\'s API, as its resource indicator'),
  scope: z.string().describe('space-separated: the most an exchanged token may carry'),
  granted_by: z.string().nullable(),
  created_at: z.iso.datetime({ offset: true }),
});

const toPermission = (row: TokenExchangePermission) => ({ ...row, created_at: row.created_at.toISOString() });
const pair = z.object({ client_id: z.string().min(1), audience: z.string().min(1) });
const cursor = z.object({ client_id: z.string(), audience: z.string() });

/** The token exchange allow-list (RFC 8693, see oidc/token-exchange.ts), for global super administrators. */
export function tokenExchangePermissionRoutes(deps: { readonly db: Kysely<Database> }): ApiRoute[] {
  return [
    defineRoute({
      method: 'get', path: '/token-exchange-permissions', tag: 'token-exchange',
      summary: 'Which app may exchange a person\'s access token for one aimed at which other API, with which scopes at most',
      query: z.object({ client_id: z.string().optional(), limit: listLimit, cursor: z.string().optional() }),
      response: listOf(permission),
      handler: async ({ query, context }) => {
        authorizeTokenExchangeAdministration(context, 'token_exchange.list');
        const after = decodeCursor(query.cursor, cursor);
        const rows = await listTokenExchanges(deps.db, {
          clientId: query.client_id, after: after && { clientId: after.client_id, audience: after.audience }, limit: query.limit + 1,
        });
        return page(rows, query.limit, toPermission, (row) => ({ client_id: row.client_id, audience: row.audience }));
      },
    }),
    defineRoute({
      method: 'put', path: '/token-exchange-permissions', tag: 'token-exchange',
      summary: 'Allow an app to exchange tokens for an audience (or change the scopes it may get); audited',
      body: pair.extend({ scope: z.string() }), response: permission,
      handler: async ({ body, context }) => {
        const options = authorizeTokenExchangeAdministration(context, 'token_exchange.allow');
        return toPermission(await allowTokenExchange(deps.db, { clientId: body.client_id, audience: body.audience, scope: body.scope }, options));
      },
    }),
    defineRoute({
      method: 'delete', path: '/token-exchange-permissions', tag: 'token-exchange',
      summary: 'Stop an app exchanging tokens for an audience; audited',
      query: pair, response: null,
      handler: async ({ query, context }) => {
        const options = authorizeTokenExchangeAdministration(context, 'token_exchange.revoke');
        await revokeTokenExchange(deps.db, { clientId: query.client_id, audience: query.audience }, options);
      },
    }),
  ];
}
