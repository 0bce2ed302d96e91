import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { ClientMetadata } from '../../src/db/schema.ts';
import { hashClientSecret } from '../../src/domain/client-secrets.ts';
import { registerClient, type ClientDeps, type ClientRegistration } from '../../src/domain/clients.ts';
import { AppError } from '../../src/errors.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';

let database: TestDatabase;
let deps: ClientDeps;

beforeAll(async () => {
  database = await createTestDatabase();
  // The provider's own metadata check is a dependency the domain receives; these tests are about
  // the domain's rules, so it accepts everything unless a test says otherwise.
  deps = { db: database.db, validateMetadata: () => Promise.resolve() };
});

afterAll(async () => {
  await database.close();
});

const storedClient = (clientId: string) =>
  database.db.selectFrom('clients').selectAll().where('client_id', '=', clientId).executeTakeFirst();

const countClients = async () => (await database.db.selectFrom('clients').select('client_id').execute()).length;

/** The AppError that registering `registration` throws; fails the test when it succeeds. */
async function refusal(registration: ClientRegistration, clientDeps: ClientDeps = deps): Promise<AppError> {
  const before = await countClients();
  const error: unknown = await registerClient(clientDeps, registration).then(
    () => {
      throw new Error('expected the registration to be refused');
    },
    (rejection: unknown) => rejection,
  );
  expect(error).toBeInstanceOf(AppError);
  expect(await countClients()).toBe(before);
  return error as AppError;
}

describe('registerClient', () => {
  it('registers a web client with a secret, storing only the secret\u2019s hash', async () => {
    const registered = await registerClient(deps, { name: 'Cổng thông tin điện tử', redirectUris: ['https://portal.tiengiang.gov.vn/callback'] });
    expect(registered.clientSecret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(registered.metadata).toMatchObject({
      client_id: registered.clientId,
      client_name: 'Cổng thông tin điện tử',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: ['https://portal.tiengiang.gov.vn/callback'],
      token_endpoint_auth_method: 'client_secret_basic',
    });

    const stored = await storedClient(registered.clientId);
    expect(stored?.client_secret_hash).toBe(hashClientSecret(registered.clientSecret!));
    expect(stored?.metadata).not.toHaveProperty('client_secret');
    expect(JSON.stringify(stored)).not.toContain(registered.clientSecret!);
    expect(stored?.first_party).toBe(false);
    expect(stored?.status).toBe('active');
  });

  it('gives every client its own id and secret', async () => {
    const registration = { name: 'Bệnh viện', redirectUris: ['https://his.tiengiang.gov.vn/cb'] };
    const first = await registerClient(deps, registration);
    const second = await registerClient(deps, registration);
    expect(second.clientId).not.toBe(first.clientId);
    expect(second.clientSecret).not.toBe(first.clientSecret);
  });

  it.each(['spa', 'native'] as const)('gives a %s client no secret and token_endpoint_auth_method none', async (kind) => {
    const registered = await registerClient(deps, { name: `App ${kind}`, kind, redirectUris: ['http://127.0.0.1:8080/callback'] });
    expect(registered.clientSecret).toBeNull();
    expect(registered.metadata.token_endpoint_auth_method).toBe('none');
    expect(registered.metadata.application_type).toBe(kind === 'native' ? 'native' : 'web');
    expect((await storedClient(registered.clientId))?.client_secret_hash).toBeNull();
  });

  it('gives a service client a secret and the client_credentials grant only', async () => {
    const registered = await registerClient(deps, { name: 'Đồng bộ nhân sự', kind: 'service' });
    expect(registered.clientSecret).not.toBeNull();
    expect(registered.metadata).toMatchObject({ grant_types: ['client_credentials'], response_types: [], redirect_uris: [] });
    expect(registered.metadata.token_endpoint_auth_method).toBe('client_secret_basic');
  });

  it('lets only service clients obtain admin-API tokens', async () => {
    const service = await registerClient(deps, { name: 'Đồng bộ nhân sự', kind: 'service' });
    const web = await registerClient(deps, { name: 'Cổng', redirectUris: ['https://portal.tiengiang.gov.vn/cb'] });
    expect((await storedClient(service.clientId))?.admin_api_access).toBe(true);
    expect((await storedClient(web.clientId))?.admin_api_access).toBe(false);
  });

  it('accepts a native app\u2019s reverse-domain private-use scheme (RFC 8252), and no other client\u2019s', async () => {
    const uri = 'vn.gov.tiengiang.benhvien:/oauth/callback';
    const native = await registerClient(deps, { name: 'Ứng dụng bệnh viện', kind: 'native', redirectUris: [uri] });
    expect(native.metadata.redirect_uris).toEqual([uri]);
    expect((await refusal({ name: 'Web', kind: 'web', redirectUris: [uri] })).message).toContain('must use https');
    const bare = await refusal({ name: 'Ứng dụng', kind: 'native', redirectUris: ['benhvien:/callback'] });
    expect(bare.message).toContain('reverse-domain scheme');
  });

  it('refuses a service client with redirect URIs', async () => {
    const error = await refusal({ name: 'Đồng bộ', kind: 'service', redirectUris: ['https://sync.tiengiang.gov.vn/cb'] });
    expect(error.code).toBe('invalid_input');
    expect(error.message).toContain('a service client has no redirect URIs');
  });

  it('records first-party clients and back-channel logout URIs', async () => {
    const registered = await registerClient(deps, {
      name: 'Bảng điều khiển quản trị',
      redirectUris: ['https://id.tiengiang.gov.vn/admin/callback'],
      backchannelLogoutUri: 'https://id.tiengiang.gov.vn/admin/backchannel',
      firstParty: true,
    });
    expect(registered.metadata).toMatchObject({
      backchannel_logout_uri: 'https://id.tiengiang.gov.vn/admin/backchannel',
      backchannel_logout_session_required: true,
    });
    expect((await storedClient(registered.clientId))?.first_party).toBe(true);
  });

  it('shows the provider\u2019s metadata check the hashed secret, never the secret itself', async () => {
    const seen: ClientMetadata[] = [];
    const registered = await registerClient(
      { db: database.db, validateMetadata: (metadata) => { seen.push(metadata); return Promise.resolve(); } },
      { name: 'Kiểm tra', redirectUris: ['https://app.tiengiang.gov.vn/cb'] },
    );
    expect(seen).toHaveLength(1);
    expect(seen[0]?.client_secret).toBe(hashClientSecret(registered.clientSecret!));
  });

  it('turns a metadata check that throws into invalid_input carrying its message, storing nothing', async () => {
    const failing: ClientDeps = {
      db: database.db,
      validateMetadata: () => Promise.reject(new Error('redirect_uris must use a registered scheme')),
    };
    const error = await refusal({ name: 'Hỏng', redirectUris: ['https://app.tiengiang.gov.vn/cb'] }, failing);
    expect(error.code).toBe('invalid_input');
    expect(error.status).toBe(400);
    expect(error.message).toContain('redirect_uris must use a registered scheme');
  });

  it('prefers an OIDC error_description over the generic message from the metadata check', async () => {
    const failing: ClientDeps = {
      db: database.db,
      validateMetadata: () => Promise.reject(Object.assign(new Error('invalid_client_metadata'), { error_description: 'grant_types must contain authorization_code' })),
    };
    const error = await refusal({ name: 'Hỏng', redirectUris: ['https://app.tiengiang.gov.vn/cb'] }, failing);
    expect(error.message).toContain('grant_types must contain authorization_code');
  });
});

describe('redirect URIs that registerClient refuses', () => {
  it.each([
    ['a fragment', 'https://app.tiengiang.gov.vn/cb#token', 'must not have a fragment'],
    ['an empty fragment', 'https://app.tiengiang.gov.vn/cb#', 'must not have a fragment'],
    ['a wildcard', 'https://*.tiengiang.gov.vn/cb', 'must not contain a wildcard'],
    ['a wildcard in the path', 'https://app.tiengiang.gov.vn/*', 'must not contain a wildcard'],
    ['http on a non-loopback host', 'http://app.tiengiang.gov.vn/cb', 'must use https'],
    ['http on a host that merely starts with localhost', 'http://localhost.attacker.example/cb', 'must use https'],
    ['a non-http scheme', 'ftp://app.tiengiang.gov.vn/cb', 'must use https'],
    ['a javascript: URI', 'javascript:alert(1)', 'must use https'],
    ['something that is not a URL', 'not a url', 'is not an absolute URL'],
    ['a relative path', '/callback', 'is not an absolute URL'],
  ])('%s (%s)', async (_description, uri, reason) => {
    const error = await refusal({ name: 'Ứng dụng', redirectUris: [uri] });
    expect(error.code).toBe('invalid_input');
    expect(error.message).toContain(reason);
  });

  it('refuses a web client with no redirect URI', async () => {
    const error = await refusal({ name: 'Ứng dụng' });
    expect(error.code).toBe('invalid_input');
    expect(error.message).toContain('at least one redirect URI is required');
  });

  it('refuses a bad post-logout redirect URI the same way', async () => {
    const error = await refusal({ name: 'Ứng dụng', redirectUris: ['https://app.tiengiang.gov.vn/cb'], postLogoutRedirectUris: ['http://app.tiengiang.gov.vn/'] });
    expect(error.message).toContain('must use https');
  });

  it('refuses a client with no name', async () => {
    const error = await refusal({ name: '   ', redirectUris: ['https://app.tiengiang.gov.vn/cb'] });
    expect(error.message).toContain('a client needs a name');
  });

  it.each(['http://localhost:8080/callback', 'http://127.0.0.1/callback', 'http://[::1]:3000/cb', 'https://app.tiengiang.gov.vn/cb?tab=1'])(
    'accepts %s',
    async (uri) => {
      const registered = await registerClient(deps, { name: 'Ứng dụng', redirectUris: [uri] });
      expect(registered.metadata.redirect_uris).toEqual([uri]);
    },
  );
});
