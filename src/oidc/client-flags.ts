/**
 * The yes-or-no metadata Mekong ID adds to a client (extraClientMetadata in provider.ts): the
 * administrator's decisions that ride along with what oidc-provider reads.
 */
export const clientFlags = ['first_party', 'admin_api_access', 'mfa_required', 'access_restricted', 'high_security', 'scim_access'] as const;

export type ClientFlag = (typeof clientFlags)[number];

/**
 * One flag of a loaded client. oidc-provider keeps extra metadata on the Client under its own name;
 * `client.metadata()` would rebuild the whole snake_cased record (two regular expressions per
 * property) to read one value, which on the token path was a fifth of all the memory allocated.
 */
export function clientFlag(client: object | undefined, flag: ClientFlag): boolean {
  return (client as Partial<Record<ClientFlag, unknown>> | undefined)?.[flag] === true;
}
