import type { Kysely } from 'kysely';
import { z } from 'zod';

import type { Database } from '../../../db/schema.ts';
import { decideOnApp, rotateClientSecret, secretRotationSchema } from '../../../domain/developer-apps.ts';
import { defineRoute, type ApiRoute } from '../route.ts';

const clientParams = z.object({ client_id: z.string().min(1).max(200) });

/** An app's registration: its approval and its secret, under the same rules as the developer portal. */
export function appRegistrationRoutes(deps: { readonly db: Kysely<Database> }): ApiRoute[] {
  return [
    defineRoute({
      method: 'post', path: '/apps/{client_id}/approval', tag: 'apps',
      summary: 'Approve or reject an app waiting for approval (global administrators; never an app you own)',
      params: clientParams, body: z.object({ decision: z.enum(['approve', 'reject']) }), response: z.object({ status: z.enum(['active', 'rejected']) }),
      handler: async ({ params, body, context }) => {
        await decideOnApp(deps.db, context, params.client_id, body.decision);
        return { status: body.decision === 'approve' ? 'active' as const : 'rejected' as const };
      },
    }),
    defineRoute({
      method: 'post', path: '/apps/{client_id}/secret', tag: 'apps',
      summary: 'A new client secret, shown once; the previous one keeps working for overlap_seconds (default a day, at most 30 days; 0 ends it now)',
      params: clientParams, body: secretRotationSchema, response: z.object({ client_secret: z.string(), previous_secret_expires_at: z.string().nullable() }),
      handler: async ({ params, body, context }) => {
        const rotated = await rotateClientSecret(deps.db, context, params.client_id, body.overlap_seconds);
        return { client_secret: rotated.clientSecret, previous_secret_expires_at: rotated.previousSecretExpiresAt?.toISOString() ?? null };
      },
    }),
  ];
}
