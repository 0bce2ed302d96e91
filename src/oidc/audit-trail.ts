import type { Kysely } from 'kysely';
import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';

import type { Database } from '../db/schema.ts';
import { originOf, recordAuditEvent, type AuditRecord } from '../domain/audit.ts';
import type { Logger } from '../logger.ts';

/**
 * The authentication events oidc-provider handles by itself, in the audit log: logouts at
 * /session/end and token revocations at /token/revocation. (Logins are recorded where the password
 * is checked, in domain/accounts.ts.) oidc-provider's events are synchronous notifications, so the
 * write runs beside the request; a failure to write is logged, never shown to the person.
 */
export function installAuditTrail(provider: Provider, db: Kysely<Database>, logger: Logger): void {
  const record = (ctx: KoaContextWithOIDC, event: Omit<AuditRecord, 'origin'>) => {
    void recordAuditEvent(db, { ...event, origin: originOf(ctx) })
      .catch((error: unknown) => logger.error({ err: error, action: event.action }, 'could not write an audit event'));
  };

  provider.on('end_session.success', (ctx: KoaContextWithOIDC) => {
    const accountId = ctx.oidc.session?.accountId;
    if (!accountId) return;
    record(ctx, {
      actor: { type: 'user', id: accountId, name: null },
      action: 'logout',
      target: { type: 'user', id: accountId },
      details: { client_id: ctx.oidc.client?.clientId ?? null },
    });
  });

  // oidc-provider emits no event for a revoked access token, so the revocation route is watched
  // on its way out: whatever token it found (RFC 7009 answers 200 for unknown ones too) is named.
  provider.use(async (ctx: KoaContextWithOIDC, next: () => Promise<void>) => {
    await next();
    // Routes outside oidc-provider's own (none here, but the type cannot know) have no oidc context.
    if ((ctx.oidc as KoaContextWithOIDC['oidc'] | undefined)?.route !== 'revocation' || ctx.status !== 200) return;
    const { AccessToken, RefreshToken, ClientCredentials } = ctx.oidc.entities;
    const token = RefreshToken ?? AccessToken ?? ClientCredentials;
    if (!token) return;
    const accountId = 'accountId' in token ? token.accountId : undefined;
    record(ctx, {
      actor: { type: 'client', id: ctx.oidc.client?.clientId ?? null, name: ctx.oidc.client?.clientName ?? null },
      action: 'token.revoke',
      target: accountId ? { type: 'user', id: accountId } : undefined,
      details: { token_kind: token.kind, grant_id: 'grantId' in token ? (token.grantId ?? null) : null },
    });
  });
}
