import * as oidc from 'openid-client';

/**
 * openid-client as a relying party of the server under test. Test servers listen on plain http on
 * loopback, which openid-client refuses unless told; it marks that switch deprecated only so that
 * it stands out, and this is the one place it is used.
 */
export function discoverRelyingParty(issuer: string, clientId: string, clientSecret?: string | null): Promise<oidc.Configuration> {
  return oidc.discovery(new URL(issuer), clientId, clientSecret ?? undefined, clientSecret ? undefined : oidc.None(), {
    // eslint-disable-next-line @typescript-eslint/no-deprecated
    execute: [oidc.allowInsecureRequests],
  });
}
