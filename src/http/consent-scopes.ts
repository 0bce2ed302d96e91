import type { Kysely } from 'kysely';

import { describeResourceServerScopes } from '../db/queries/resource-servers.ts';
import type { Database } from '../db/schema.ts';
import { clientScopes } from '../domain/clients.ts';
import { isMessageKey, type Translate } from '../i18n/catalog.ts';

/**
 * What the consent page says an app asks for: the OpenID Connect scopes in the request, and the API
 * scopes the provider still needs consent for (`missingResourceScopes`: those granted to the app),
 * each in the words of the registered API that defines it. A scope the app was not granted is not
 * listed, since the token will not carry it.
 */
export async function consentScopes(
  db: Kysely<Database>, requested: readonly string[], missingResourceScopes: Readonly<Record<string, readonly string[]>>,
): Promise<(t: Translate) => string[]> {
  const described = await describeResourceServerScopes(db, Object.keys(missingResourceScopes));
  const apiScopes = Object.entries(missingResourceScopes).flatMap(([identifier, scopes]) => scopes.map((scope) => ({
    scope, defined: described.find((row) => row.identifier === identifier && row.name === scope),
  })));
  const oidcScopes = requested.filter((scope) => (clientScopes as readonly string[]).includes(scope));
  return (t) => [
    ...oidcScopes.map((scope) => describeScope(t, scope)),
    ...apiScopes.map(({ scope, defined }) => (defined ? t('scope.api', { description: defined.description, api: defined.api_name }) : describeScope(t, scope))),
  ];
}

function describeScope(t: Translate, scope: string): string {
  const key = `scope.${scope}`;
  return isMessageKey(key) ? t(key) : t('scope.other', { scope });
}
