import type { Kysely } from 'kysely';
import { z } from 'zod';

import { findActiveClient } from '../db/queries/clients.ts';
import {
  deleteTokenExchangePermission,
  listTokenExchangePermissions,
  upsertTokenExchangePermission,
} from '../db/queries/token-exchange-permissions.ts';
import type { Database, TokenExchangePermission } from '../db/schema.ts';
import { AppError, assertThat, invalidInput, localizable } from '../errors.ts';
import { noOrigin, recordAuditEvent, systemActor, type Actor, type RequestOrigin } from './audit.ts';
import { requirePermission, type AdminContext } from './authorization.ts';

/**
 * The token exchange allow-list (RFC 8693, see oidc/token-exchange.ts): an administrator names
 * which client may trade a person's token for one aimed at which audience, with which scopes at
 * most. Every change is audited with the pair before and after.
 */

const permissionSchema = z.object({
  clientId: z.string().trim().min(1).max(200),
  /** An absolute URI naming the other app's API, as its resource indicator (RFC 8707). */
  audience: z.string().trim().min(1).max(2000).refine((value) => URL.canParse(value) && !value.includes('#'), 'the audience is an absolute URI without a fragment'),
  scope: z.string().trim().min(1, 'name at least one scope').max(2000)
    .refine((value) => value.split(/\s+/).every((scope) => /^[\x21\x23-\x5B\x5D-\x7E]+$/.test(scope)), 'scopes are space-separated OAuth scope tokens'),
});

export type TokenExchangePermissionInput = z.input<typeof permissionSchema>;

interface ChangeOptions {
  readonly actor?: Actor;
  readonly origin?: RequestOrigin;
}

const grantedByOf = (actor: Actor) => (actor.type === 'system' ? 'system' : `${actor.type}:${actor.id ?? ''}`);

export async function allowTokenExchange(db: Kysely<Database>, input: TokenExchangePermissionInput, options: ChangeOptions = {}): Promise<TokenExchangePermission> {
  const parsed = permissionSchema.safeParse(input);
  if (!parsed.success) throw invalidInput(parsed.error.issues.map((issue) => issue.message).join('; '));
  const { clientId, audience } = parsed.data;
  const scope = parsed.data.scope.split(/\s+/).join(' ');
  const actor = options.actor ?? systemActor;
  return db.transaction().execute(async (trx) => {
    const client = await findActiveClient(trx, clientId);
    assertThat(client, () => invalidInput(`there is no active client ${clientId}`));
    assertThat(client.metadata['high_security'] !== true, () => invalidInput('a high-security client uses the code flow only: it cannot exchange tokens'));
    const before = await upsertTokenExchangePermission(trx, { clientId, audience, scope, grantedBy: grantedByOf(actor) });
    await recordAuditEvent(trx, {
      actor, origin: options.origin ?? noOrigin, action: 'token_exchange.allow', target: { type: 'client', id: clientId },
      before: before ? { audience, scope: before.scope } : null,
      after: { audience, scope },
    });
    return (await listTokenExchangePermissions(trx, { clientId })).find((row) => row.audience === audience)!;
  });
}

export async function revokeTokenExchange(db: Kysely<Database>, pair: { clientId: string; audience: string }, options: ChangeOptions = {}): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const removed = await deleteTokenExchangePermission(trx, pair.clientId, pair.audience);
    assertThat(removed, () => new AppError('not_found', `${pair.clientId} may not exchange tokens for ${pair.audience}: nothing to revoke`, 404));
    await recordAuditEvent(trx, {
      actor: options.actor ?? systemActor, origin: options.origin ?? noOrigin, action: 'token_exchange.revoke', target: { type: 'client', id: pair.clientId },
      before: { audience: removed.audience, scope: removed.scope },
    });
  });
}

export function listTokenExchanges(db: Kysely<Database>, filter: Parameters<typeof listTokenExchangePermissions>[1] = {}): Promise<TokenExchangePermission[]> {
  return listTokenExchangePermissions(db, filter);
}

/**
 * For the admin API: the same changes, made by an administrator who must hold the right for the
 * whole province ('clients.token_exchange'); a refusal is a 403 and an audit event.
 */
export function authorizeTokenExchangeAdministration(context: AdminContext, action: string): ChangeOptions {
  requirePermission(context.principal, 'clients.token_exchange', null, {
    action, message: localizable('only a global super administrator manages which apps may exchange tokens', 'problem.token_exchange.needs_super_admin'),
  });
  return { actor: context.principal.actor, origin: context.origin };
}
