import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startTestServer, type TestServer } from '../support/server.ts';

let server: TestServer;
let discovery: Record<string, unknown>;

beforeAll(async () => {
  server = await startTestServer();
  discovery = (await (await fetch(`${server.issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
});

afterAll(async () => {
  await server.stop();
});

const asymmetric = ['RS256', 'PS256', 'ES256', 'EdDSA'];

describe('the discovery document advertises exactly what is enabled', () => {
  it('names the endpoints of PAR, the device flow, userinfo, introspection, revocation and logout', () => {
    const at = (path: string) => `${server.issuer}${path}`;
    expect(discovery).toMatchObject({
      issuer: server.issuer,
      authorization_endpoint: at('/auth'),
      token_endpoint: at('/token'),
      pushed_authorization_request_endpoint: at('/request'),
      device_authorization_endpoint: at('/device/auth'),
      userinfo_endpoint: at('/me'),
      introspection_endpoint: at('/token/introspection'),
      revocation_endpoint: at('/token/revocation'),
      end_session_endpoint: at('/session/end'),
      jwks_uri: at('/jwks'),
    });
  });

  it('offers the code flow only, with PKCE S256 and iss in the authorization response', () => {
    expect(discovery['response_types_supported']).toEqual(['code']);
    expect(discovery['code_challenge_methods_supported']).toEqual(['S256']);
    expect(discovery['authorization_response_iss_parameter_supported']).toBe(true);
    expect(discovery['grant_types_supported']).toEqual([
      'authorization_code',
      'refresh_token',
      'client_credentials',
      'urn:ietf:params:oauth:grant-type:device_code',
      'urn:ietf:params:oauth:grant-type:token-exchange',
    ]);
  });

  it('offers private_key_jwt beside the secret methods, and no method or algorithm that would use the hashed secret as a key', () => {
    expect(discovery['token_endpoint_auth_methods_supported']).toEqual(['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none']);
    expect(discovery['token_endpoint_auth_signing_alg_values_supported']).toEqual(asymmetric);
    const algorithms = Object.entries(discovery).filter(([key]) => key.endsWith('_alg_values_supported')).flatMap(([, values]) => values as string[]);
    expect(algorithms.filter((alg) => alg.startsWith('HS') || alg === 'none')).toEqual([]);
  });

  it('offers signed request objects by value only, and DPoP with ES256 and EdDSA', () => {
    expect(discovery['request_parameter_supported']).toBe(true);
    expect(discovery['request_uri_parameter_supported']).toBe(false);
    expect(discovery['request_object_signing_alg_values_supported']).toEqual(asymmetric);
    expect(discovery['dpop_signing_alg_values_supported']).toEqual(['ES256', 'EdDSA']);
  });

  it('requires PAR of no client globally: a client opts in through its own metadata', () => {
    expect(discovery).not.toHaveProperty('require_pushed_authorization_requests');
    expect(discovery).not.toHaveProperty('require_signed_request_object');
  });

  it('advertises dynamic registration at /reg (RFC 7591), which takes an initial access token', () => {
    expect(discovery['registration_endpoint']).toBe(`${server.issuer}/reg`);
  });

  it('advertises nothing that is not enabled: no CIBA, mutual TLS, JWT responses or encryption', () => {
    for (const absent of [
      'backchannel_authentication_endpoint',
      'tls_client_certificate_bound_access_tokens',
      'mtls_endpoint_aliases',
      'authorization_signing_alg_values_supported',
      'userinfo_signing_alg_values_supported',
      'introspection_signing_alg_values_supported',
      'id_token_encryption_alg_values_supported',
      'request_object_encryption_alg_values_supported',
      'authorization_details_types_supported',
      'check_session_iframe',
    ]) {
      expect(discovery, absent).not.toHaveProperty(absent);
    }
    expect(discovery['response_modes_supported']).not.toContain('jwt');
  });
});
