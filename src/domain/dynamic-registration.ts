import type { Kysely } from 'kysely';

import { findClient, insertClient, setClientStatus, updateClientRegistration } from '../db/queries/clients.ts';
import type { ClientMetadata, Database } from '../db/schema.ts';
import { AppError, assertThat } from '../errors.ts';
import { recordAuditEvent, type Actor, type RequestOrigin } from './audit.ts';
import { isBuiltInClient } from './built-in-clients.ts';
import { hashClientSecret } from './client-secrets.ts';
import { kindOfMetadata, lintClientMetadata } from './clients.ts';

/**
 * Clients registered by automation at /reg (RFC 7591) and managed there (RFC 7592), with an
 * initial access token an administrator issued. oidc-provider builds and validates the client;
 * these functions store it in the clients table like every other client, after the same URI lint,
 * and audit it. Only an administrator's choice sets what the provider's metadata must not carry.
 */

/**
 * Set by administrators only: skipping consent, calling the admin API, the second-factor and
 * access policies. A registration naming them is refused (see oidc/provider.ts); they are also
 * never copied from a registration into the stored metadata.
 */
export const operatorOnlyMetadata = ['first_party', 'admin_api_access', 'mfa_required', 'access_restricted', 'scim_access'] as const;

export class RegistrationRefused extends AppError {
  override name = 'RegistrationRefused';
  readonly field: string;

  constructor(field: string, message: string) {
    super('invalid_client_metadata', message, 400);
    this.field = field;
  }
}

/** Creates or updates a /reg client: new ones take `statusIfNew` (pending unless the token said otherwise). */
export async function saveRegisteredClient(
  db: Kysely<Database>,
  payload: Record<string, unknown> & { client_id: string },
  options: { statusIfNew: 'pending' | 'active'; actor: Actor; origin: RequestOrigin },
): Promise<void> {
  const [problem] = lintClientMetadata(payload);
  if (problem) throw new RegistrationRefused(problem.field, `${problem.field}: ${problem.message}`);
  const secret = payload['client_secret'];
  // The secret is stored hashed beside the metadata; oidc-provider's bookkeeping of it is not kept.
  const notKept = new Set<string>([...operatorOnlyMetadata, 'client_secret', 'client_secret_expires_at']);
  const metadata = Object.fromEntries(Object.entries(payload).filter(([key]) => !notKept.has(key))) as ClientMetadata;
  const target = { type: 'client', id: payload.client_id };
  await db.transaction().execute(async (trx) => {
    const existing = await findClient(trx, payload.client_id);
    assertThat(!isBuiltInClient(payload.client_id), () => new AppError('forbidden', 'Mekong ID\'s own consoles are not managed at /reg', 403));
    // On an update oidc-provider hands back the secret it loaded, which is the stored hash.
    const clientSecretHash = typeof secret !== 'string' ? null : secret === existing?.client_secret_hash ? secret : hashClientSecret(secret);
    if (existing) {
      await updateClientRegistration(trx, payload.client_id, { metadata, clientSecretHash });
      await recordAuditEvent(trx, {
        actor: options.actor, origin: options.origin, action: 'client.update', target,
        before: { redirect_uris: existing.metadata['redirect_uris'] ?? [] }, after: { redirect_uris: metadata['redirect_uris'] ?? [] },
      });
      return;
    }
    await insertClient(trx, { client_id: payload.client_id, client_secret_hash: clientSecretHash, metadata, status: options.statusIfNew });
    await recordAuditEvent(trx, {
      actor: options.actor, origin: options.origin, action: 'client.register', target,
      after: {
        client_name: metadata['client_name'] ?? null, kind: kindOfMetadata(metadata), status: options.statusIfNew, redirect_uris: metadata['redirect_uris'] ?? [],
        token_endpoint_auth_method: metadata['token_endpoint_auth_method'] ?? null, registered_at: '/reg',
      },
    });
  });
}

/**
 * RFC 7592 deletion. The row stays, disabled, so that the audit log and any app assignments keep
 * naming it; the provider no longer knows it, so its tokens stop working at once.
 */
export async function removeRegisteredClient(db: Kysely<Database>, clientId: string, by: { actor: Actor; origin: RequestOrigin }): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const existing = await findClient(trx, clientId);
    if (!existing || isBuiltInClient(clientId) || existing.status === 'disabled') return;
    await setClientStatus(trx, clientId, 'disabled');
    await recordAuditEvent(trx, { ...by, action: 'client.delete', target: { type: 'client', id: clientId }, before: { status: existing.status }, after: { status: 'disabled' } });
  });
}
