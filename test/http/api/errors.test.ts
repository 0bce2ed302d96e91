import http from 'node:http';
import { brotliCompressSync, gzipSync } from 'node:zlib';

import { describe, expect, it } from 'vitest';

import { expectApiError, useProvinceServer } from '../../support/admin-api.ts';

const world = useProvinceServer();
/**
 * A request exactly as given, through node:http: fetch would add an Accept header of its own, and
 * these tests are about what the server answers when there is none.
 */
function rawRequest(path: string, options: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {}) {
  return new Promise<{ status: number; headers: http.IncomingHttpHeaders; text: string }>((resolve, reject) => {
    const request = http.request(`${world.server.issuer}${path}`, { method: options.method ?? 'GET', headers: options.headers ?? {} }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, text }));
    });
    request.on('error', reject);
    request.end(options.body);
  });
}

/** The error shape the API promises, read off a raw response. */
function expectJsonError(response: Awaited<ReturnType<typeof rawRequest>>, status: number, error: string): void {
  expect(response.status, response.text).toBe(status);
  expect(response.headers['content-type']).toMatch(/^application\/json/);
  expect(JSON.parse(response.text)).toEqual({ error, message: expect.any(String) as unknown, request_id: response.headers['x-request-id'] });
}

describe('error responses', () => {
  it('are JSON {error, message, request_id} when the client sends no Accept header', async () => {
    expectJsonError(await rawRequest('/api/v1/users'), 401, 'unauthorized');
    const forbidden = await rawRequest(`/api/v1/org-units/${world.tree.choGao.id}`, { headers: { authorization: `Bearer ${world.caiBeAdmin.accessToken}` } });
    expectJsonError(forbidden, 403, 'forbidden');
  });

  it('are JSON even for a client that asks for HTML', async () => {
    expectJsonError(await rawRequest('/api/v1/users', { headers: { accept: 'text/html' } }), 401, 'unauthorized');
  });

  it('answer 404 not_found, in JSON, for a resource that does not exist', async () => {
    const missing = await rawRequest('/api/v1/users/6f1c1f3e-8a0b-4c5d-9e2f-1a2b3c4d5e6f', { headers: { authorization: `Bearer ${world.caiBeAdmin.accessToken}` } });
    expectJsonError(missing, 404, 'not_found');
  });

  // Nothing below /api/v1 may fall through to oidc-provider, whose own 404 is text/plain.
  it('answer a path the API does not have with a JSON 404, with or without a token', async () => {
    expectJsonError(await rawRequest('/api/v1/nguoi-dung', { headers: { authorization: `Bearer ${world.caiBeAdmin.accessToken}` } }), 404, 'not_found');
    expectJsonError(await rawRequest('/api/v1/users/6f1c1f3e-8a0b-4c5d-9e2f-1a2b3c4d5e6f/promote', { method: 'POST' }), 404, 'not_found');
  });

  it('answer a method a path does not have with a JSON 405 and the methods it has', async () => {
    const wrongMethod = await rawRequest('/api/v1/users', { method: 'DELETE', headers: { authorization: `Bearer ${world.caiBeAdmin.accessToken}` } });
    expectJsonError(wrongMethod, 405, 'method_not_allowed');
    expect(wrongMethod.headers['allow']?.split(', ').sort()).toEqual(['GET', 'POST']);
  });
});

describe('input validation', () => {
  const newUser = () => ({ full_name: 'Nguyễn Hữu Thọ', org_unit_id: world.tree.anHuu.id });

  it('refuses a field of the wrong type with 400 invalid_input naming its path', async () => {
    expectApiError(await world.caiBeAdmin.api('POST', '/users', { ...newUser(), phone: 912345678 }), 400, 'invalid_input', 'body.phone');
    expectApiError(await world.caiBeAdmin.api('POST', '/users', { ...newUser(), concurrent_unit_ids: ['not-a-uuid'] }), 400, 'invalid_input', 'body.concurrent_unit_ids.0');
    expectApiError(await world.caiBeAdmin.api('POST', '/users', { ...newUser(), full_name: ['Nguyễn', 'Hữu', 'Thọ'] }), 400, 'invalid_input', 'body.full_name');
  });

  it('names every field that is wrong, not just the first', async () => {
    const response = await world.caiBeAdmin.api<{ message: string }>('POST', '/users', { org_unit_id: 42, email: 'not-an-email' });
    expectApiError(response, 400, 'invalid_input');
    for (const path of ['body.full_name', 'body.org_unit_id', 'body.email']) expect(response.body.message).toContain(path);
  });

  it('refuses a body that is not an object, and bad query and path parameters, naming where', async () => {
    expectApiError(await world.caiBeAdmin.api('POST', '/users', [newUser()]), 400, 'invalid_input', 'body');
    expectApiError(await world.caiBeAdmin.api('GET', '/users?limit=many'), 400, 'invalid_input', 'query.limit');
    expectApiError(await world.caiBeAdmin.api('GET', '/users?status=retired'), 400, 'invalid_input', 'query.status');
    expectApiError(await world.caiBeAdmin.api('GET', '/users/42'), 400, 'invalid_input', 'path.id');
  });

  it('creates nothing from a refused request', async () => {
    const found = await world.superAdmin<{ items: unknown[] }>('GET', `/users?q=${encodeURIComponent('Nguyễn Hữu Thọ')}`);
    expect(found.body.items).toEqual([]);
  });

  it('answers a body that is not valid JSON with 400 invalid_input, not 500', async () => {
    const response = await rawRequest('/api/v1/users', {
      method: 'POST',
      headers: { authorization: `Bearer ${world.caiBeAdmin.accessToken}`, 'content-type': 'application/json' },
      body: '{"full_name": "Nguyễn Hữu Thọ",',
    });
    expectJsonError(response, 400, 'invalid_input');
  });

  it('checks the token before reading the body: an anonymous malformed body gets 401', async () => {
    const response = await rawRequest('/api/v1/users', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"full_name": ' });
    expectJsonError(response, 401, 'unauthorized');
  });
});

describe('bodies and text the server cannot take', () => {
  const newUser = () => ({ full_name: 'Nguyễn Hữu Thọ', org_unit_id: world.tree.anHuu.id });
  const post = (headers: Record<string, string>, body: string | Buffer) =>
    rawRequest('/api/v1/users', { method: 'POST', headers: { authorization: `Bearer ${world.caiBeAdmin.accessToken}`, 'content-type': 'application/json', ...headers }, body });

  it('answers a body in a Content-Encoding it does not know with 415 unsupported_media_type, not 500', async () => {
    expectJsonError(await post({ 'content-encoding': 'compress' }, '{}'), 415, 'unsupported_media_type');
  });

  it('answers a gzip or br body that does not decompress with 400 invalid_input, not 500', async () => {
    expectJsonError(await post({ 'content-encoding': 'gzip' }, '{"full_name": "Nguyễn Hữu Thọ"}'), 400, 'invalid_input');
    expectJsonError(await post({ 'content-encoding': 'br' }, '{"full_name": "Nguyễn Hữu Thọ"}'), 400, 'invalid_input');
  });

  it('reads a gzip or br body that does decompress', async () => {
    for (const [encoding, compress] of [['gzip', gzipSync], ['br', brotliCompressSync]] as const) {
      const response = await post({ 'content-encoding': encoding }, compress(Buffer.from('{"full_name": 42}')));
      expectJsonError(response, 400, 'invalid_input');
      expect(JSON.parse(response.text)).toMatchObject({ message: expect.stringContaining('body.full_name') as unknown });
    }
  });

  // PostgreSQL text and jsonb cannot hold U+0000: these failed in the database, as 500s.
  it('refuses text with a NUL character with 400 invalid_input naming where it was, before it reaches the database', async () => {
    expectApiError(await world.caiBeAdmin.api('GET', '/users?q=%00'), 400, 'invalid_input', 'query.q');
    expectApiError(await world.superAdmin('GET', '/audit-events?action=user.%00'), 400, 'invalid_input', 'query.action');
    expectApiError(await world.caiBeAdmin.api('POST', '/users', { ...newUser(), full_name: 'Nguyễn\u0000Hữu Thọ' }), 400, 'invalid_input', 'body.full_name');
    expectApiError(await world.caiBeAdmin.api('POST', '/users', { ...newUser(), 'bí\u0000danh': 'x' }), 400, 'invalid_input', 'body');
  });

  const importCsv = (headers: Record<string, string>, body: string | Buffer) => rawRequest('/api/v1/users/import?dry_run=true', {
    method: 'POST', headers: { authorization: `Bearer ${world.caiBeAdmin.accessToken}`, ...headers }, body,
  });
  const oneHire = 'full_name,employee_code,org_unit_code\nNguyễn Hữu Thọ,CB-91,TG.CAIBE\n';

  it('takes the import\'s CSV as text/csv or text/plain, compressed or not', async () => {
    for (const response of [
      await importCsv({ 'content-type': 'text/csv; charset=utf-8' }, oneHire),
      await importCsv({ 'content-type': 'text/plain' }, oneHire),
      await importCsv({ 'content-type': 'text/csv', 'content-encoding': 'gzip' }, gzipSync(Buffer.from(oneHire))),
    ]) {
      expect(response.status, response.text).toBe(200);
      expect(JSON.parse(response.text)).toMatchObject({ dry_run: true, totals: { rows: 1, created: 1 } });
    }
  });

  it('answers an import sent as anything but text with 415, and an empty one with 400, each naming text/csv', async () => {
    const asJson = await importCsv({ 'content-type': 'application/json' }, JSON.stringify({ csv: oneHire }));
    expectJsonError(asJson, 415, 'unsupported_media_type');
    expect(JSON.parse(asJson.text)).toMatchObject({ message: expect.stringContaining('Content-Type: text/csv') as unknown });
    const empty = await importCsv({ 'content-type': 'text/csv' }, '');
    expectJsonError(empty, 400, 'invalid_input');
    expect(JSON.parse(empty.text)).toMatchObject({ message: expect.stringContaining('Content-Type: text/csv') as unknown });
  });

  it('leaves a CSV upload with a NUL to the import, which says what the file is', async () => {
    const csv = await rawRequest('/api/v1/users/import?dry_run=true', {
      method: 'POST',
      headers: { authorization: `Bearer ${world.caiBeAdmin.accessToken}`, 'content-type': 'text/csv' },
      body: 'full_name,employee_code,org_unit_code\nNguyễn Hữu Thọ,CB-9\u0000,TG.CAIBE\n',
    });
    expectJsonError(csv, 400, 'invalid_input');
    expect(JSON.parse(csv.text)).toMatchObject({ message: expect.stringContaining('not a text file') as unknown });
  });
});
