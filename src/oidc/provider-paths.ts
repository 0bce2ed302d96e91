/**
 * oidc-provider's own endpoints, at the fixed paths of its default `routes` (provider.ts sets none):
 * no route of Mekong ID takes one of them. Requests to them go to oidc-provider directly, past our
 * route tables (http/app.ts), and the request metric labels them by path as it stands (http/request-metrics.ts).
 */
export const providerPaths: ReadonlySet<string> = new Set([
  '/.well-known/openid-configuration', '/jwks', '/auth', '/token', '/me', '/token/introspection', '/token/revocation',
  '/session/end', '/session/end/confirm', '/session/end/success', '/request', '/device/auth', '/device',
]);
