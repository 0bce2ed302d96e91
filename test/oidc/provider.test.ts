import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { registerTestClient, startTestServer, type TestServer } from '../support/server.ts';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
});

afterAll(async () => {
  await server.stop();
});

describe('clients as oidc-provider finds them', () => {
  it('are built once and handed out again while they are unchanged, without serialising their metadata each time', async () => {
    const { clientId } = await registerTestClient(server, { name: 'Cổng dịch vụ công', redirectUris: ['https://dichvucong.tiengiang.gov.vn/cb'] });
    const first = await server.oidc.current().Client.find(clientId);
    expect(first?.clientId).toBe(clientId);
    // oidc-provider's own way to recognise metadata it has built a client from is to hash its JSON.
    const stringify = vi.spyOn(JSON, 'stringify');
    try {
      expect(await server.oidc.current().Client.find(clientId)).toBe(first);
      expect(stringify.mock.calls.filter(([value]) => (value as { client_id?: unknown } | null)?.client_id === clientId)).toEqual([]);
    } finally {
      stringify.mockRestore();
    }
  });

  it('are built anew the moment their row changes, so a changed redirect URI counts at once', async () => {
    const { clientId } = await registerTestClient(server, { name: 'Hệ thống văn bản', redirectUris: ['https://vanban.tiengiang.gov.vn/cb'] });
    const before = await server.oidc.current().Client.find(clientId);
    const row = await server.database.db.selectFrom('clients').select('metadata').where('client_id', '=', clientId).executeTakeFirstOrThrow();
    await server.database.db.updateTable('clients')
      .set({ metadata: { ...row.metadata, redirect_uris: ['https://vanban-moi.tiengiang.gov.vn/cb'] } })
      .where('client_id', '=', clientId).execute();
    const after = await server.oidc.current().Client.find(clientId);
    expect(after).not.toBe(before);
    expect(after?.redirectUris).toEqual(['https://vanban-moi.tiengiang.gov.vn/cb']);
    expect(await server.oidc.current().Client.find(clientId)).toBe(after);
  });

  it('find no client for an id that is not one, or for a disabled client', async () => {
    const { clientId } = await registerTestClient(server, { name: 'Ứng dụng cũ', redirectUris: ['https://cu.tiengiang.gov.vn/cb'] });
    expect(await server.oidc.current().Client.find(clientId)).toBeDefined();
    await server.database.db.updateTable('clients').set({ status: 'disabled' }).where('client_id', '=', clientId).execute();
    expect(await server.oidc.current().Client.find(clientId)).toBeUndefined();
    expect(await server.oidc.current().Client.find('khong-co-ung-dung-nay')).toBeUndefined();
    expect(await server.oidc.current().Client.find('')).toBeUndefined();
  });
});
