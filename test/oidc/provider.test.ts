import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { notificationChannels, type Unlisten } from '../../src/db/notifications.ts';
import { registerTestClient, startTestServer, type TestServer } from '../support/server.ts';

let server: TestServer;
let unlisten: Unlisten;
/** Notifications on the clients channel so far, heard on the server's own listening connection. */
let announcements = 0;

beforeAll(async () => {
  server = await startTestServer();
  unlisten = await server.database.listen(notificationChannels.clients, () => {
    announcements += 1;
  });
  // A listener is told once when its connection starts listening (PostgreSQL's connects in the background).
  if (server.database.kind === 'postgres') await vi.waitFor(() => expect(announcements).toBeGreaterThan(0));
});

afterAll(async () => {
  await unlisten();
  await server.stop();
});

/**
 * A new client, once the database has announced it: the server's client cache forgets everything
 * when that announcement lands (on PostgreSQL, a moment after the insert), which would otherwise
 * happen in the middle of a test.
 */
async function registerAnnounced(name: string, redirectUri: string): Promise<string> {
  const before = announcements;
  const { clientId } = await registerTestClient(server, { name, redirectUris: [redirectUri] });
  await expect.poll(() => announcements).toBeGreaterThan(before);
  return clientId;
}

describe('clients as oidc-provider finds them', () => {
  it('are built once and handed out again while they are unchanged, without serialising their metadata each time', async () => {
    const clientId = await registerAnnounced('Cổng dịch vụ công', 'https://dichvucong.tiengiang.gov.vn/cb');
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
    const clientId = await registerAnnounced('Hệ thống văn bản', 'https://vanban.tiengiang.gov.vn/cb');
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
