import type { Context, Next } from 'koa';
import type { Kysely } from 'kysely';
import type { Client as OidcClient } from 'oidc-provider';

import { scopedAssignmentsOf } from '../db/queries/role-assignments.ts';
import type { Database, User } from '../db/schema.ts';
import { originOf, recordAuditEvent } from '../domain/audit.ts';
import { AccessDenied, type AdminContext } from '../domain/authorization.ts';
import type { Logger } from '../logger.ts';

/**
 * Who is administering, for the admin API and the admin console alike: the person, their role
 * assignments read fresh on every request (a revoked role stops working at once), and where the
 * request came from. Both hand this to the same domain functions, which decide.
 */
export async function adminContextOfPerson(db: Kysely<Database>, user: User, ctx: Context): Promise<AdminContext> {
  const holder = { userId: user.id };
  return { principal: { actor: { type: 'user', id: user.id, name: user.username }, holder, assignments: await scopedAssignmentsOf(db, holder) }, origin: originOf(ctx) };
}

/** A client acting by itself (client_credentials): its own role assignments, read fresh like a person's. */
export async function adminContextOfClient(db: Kysely<Database>, client: OidcClient, ctx: Context): Promise<AdminContext> {
  const holder = { clientId: client.clientId };
  const name = typeof client.clientName === 'string' ? client.clientName : client.clientId;
  return { principal: { actor: { type: 'client', id: client.clientId, name }, holder, assignments: await scopedAssignmentsOf(db, holder) }, origin: originOf(ctx) };
}

/** Remembers the caller, so that a refusal deep in a handler can be audited with their name. */
export function rememberAdminContext(ctx: Context, context: AdminContext): AdminContext {
  ctx.state['adminContext'] = context;
  return context;
}

/** Every refusal is a 403 and an audit event, written on its own: the refused change rolled back. */
export function auditRefusals(deps: { readonly db: Kysely<Database>; readonly logger: Logger }) {
  return async function recordRefusal(ctx: Context, next: Next): Promise<void> {
    try {
      await next();
    } catch (error) {
      const context = ctx.state['adminContext'] as AdminContext | undefined;
      if (error instanceof AccessDenied && context) {
        await recordAuditEvent(deps.db, {
          actor: context.principal.actor,
          origin: context.origin,
          action: error.action,
          outcome: 'denied',
          target: error.target,
          orgUnitId: error.orgUnitId,
          details: { method: ctx.method, path: ctx.path, reason: error.message },
        }).catch((auditError: unknown) => deps.logger.error({ err: auditError }, 'could not audit a refusal'));
      }
      throw error;
    }
  };
}
