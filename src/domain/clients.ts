import type { Kysely } from 'kysely';
import { z } from 'zod';

import { insertClient } from '../db/queries/clients.ts';
import type { ClientMetadata, Database } from '../db/schema.ts';
import { invalidInput } from '../errors.ts';
import { generateClientId, generateClientSecret, hashClientSecret } from './client-secrets.ts';

/** Which OIDC client a person registers; each kind fixes how it authenticates and which grants it gets. */
export const clientKinds = ['web', 'spa', 'native', 'service'] as const;
export type ClientKind = (typeof clientKinds)[number];

const loopbackHosts = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * Redirect URIs are matched exactly, so they are checked when registered: absolute, no fragment, no
 * wildcard, and https unless the host is this machine (a native app's or a developer's loopback).
 */
const redirectUriSchema = z.string().superRefine((value, ctx) => {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    ctx.addIssue({ code: 'custom', message: `"${value}" is not an absolute URL` });
    return;
  }
  if (url.hash || value.includes('#')) ctx.addIssue({ code: 'custom', message: `"${value}" must not have a fragment` });
  if (value.includes('*')) ctx.addIssue({ code: 'custom', message: `"${value}" must not contain a wildcard` });
  if (url.protocol === 'http:' && !loopbackHosts.has(url.hostname)) {
    ctx.addIssue({ code: 'custom', message: `"${value}" must use https (http is allowed only for localhost)` });
  } else if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    ctx.addIssue({ code: 'custom', message: `"${value}" must use https` });
  }
});

const registrationSchema = z
  .object({
    name: z.string().trim().min(1, 'a client needs a name').max(200),
    kind: z.enum(clientKinds).default('web'),
    redirectUris: z.array(redirectUriSchema).default([]),
    postLogoutRedirectUris: z.array(redirectUriSchema).default([]),
    backchannelLogoutUri: redirectUriSchema.optional(),
    firstParty: z.boolean().default(false),
  })
  .superRefine((input, ctx) => {
    if (input.kind === 'service' && input.redirectUris.length > 0) {
      ctx.addIssue({ code: 'custom', path: ['redirectUris'], message: 'a service client has no redirect URIs' });
    }
    if (input.kind !== 'service' && input.redirectUris.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['redirectUris'], message: 'at least one redirect URI is required' });
    }
  });

export type ClientRegistration = z.input<typeof registrationSchema>;

export interface RegisteredClient {
  readonly clientId: string;
  /** Shown once; only its hash is stored. Null for public clients. */
  readonly clientSecret: string | null;
  readonly metadata: ClientMetadata;
}

export interface ClientDeps {
  readonly db: Kysely<Database>;
  /** Checks metadata the way the OIDC provider will read it, so nothing unusable is stored. */
  readonly validateMetadata: (metadata: ClientMetadata) => Promise<void>;
}

export async function registerClient(deps: ClientDeps, registration: ClientRegistration): Promise<RegisteredClient> {
  const parsed = registrationSchema.safeParse(registration);
  if (!parsed.success) {
    throw invalidInput(parsed.error.issues.map((issue) => issue.message).join('; '));
  }
  const input = parsed.data;
  const clientId = generateClientId();
  const isPublic = input.kind === 'spa' || input.kind === 'native';
  const clientSecret = isPublic ? null : generateClientSecret();

  const metadata: ClientMetadata = {
    client_id: clientId,
    client_name: input.name,
    ...(input.kind === 'service'
      ? { grant_types: ['client_credentials'], response_types: [], redirect_uris: [] }
      : {
          grant_types: ['authorization_code', 'refresh_token'],
          response_types: ['code'],
          redirect_uris: input.redirectUris,
          post_logout_redirect_uris: input.postLogoutRedirectUris,
        }),
    application_type: input.kind === 'native' ? 'native' : 'web',
    token_endpoint_auth_method: isPublic ? 'none' : 'client_secret_basic',
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
  await insertClient(deps.db, {
    client_id: clientId,
    client_secret_hash: clientSecretHash,
    metadata,
    first_party: input.firstParty,
  });
  return { clientId, clientSecret, metadata };
}
