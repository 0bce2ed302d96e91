import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { clientFlag, clientFlags } from '../../src/oidc/client-flags.ts';
import { registerTestClient, startTestServer, type TestServer } from '../support/server.ts';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
});

afterAll(async () => {
  await server.stop();
});

describe('clientFlag', () => {
  it('reads each flag of a client oidc-provider loaded exactly as its metadata() would, set or not', async () => {
    const plain = await registerTestClient(server, { name: 'Cổng thông tin điện tử', redirectUris: ['https://portal.tiengiang.gov.vn/cb'] });
    const firstParty = await registerTestClient(server, { name: 'Hệ thống quản lý văn bản', redirectUris: ['https://vanban.tiengiang.gov.vn/cb'], firstParty: true });
    // Set the rest in the table, as an administrator's decisions are.
    await server.database.db
      .updateTable('clients')
      .set({ admin_api_access: true, mfa_required: true, access_policy: 'restricted', scim_access: true })
      .where('client_id', '=', firstParty.clientId)
      .execute();
    for (const { clientId } of [plain, firstParty]) {
      const client = await server.oidc.current().Client.find(clientId);
      expect(client).toBeDefined();
      const metadata = client!.metadata();
      for (const flag of clientFlags) expect(clientFlag(client, flag), `${flag} of ${clientId}`).toBe(metadata[flag] === true);
    }
    const flagged = await server.oidc.current().Client.find(firstParty.clientId);
    expect(clientFlags.filter((flag) => clientFlag(flagged, flag))).toEqual(['first_party', 'admin_api_access', 'mfa_required', 'access_restricted', 'scim_access']);
  });

  it('reads no flag of an absent client', () => {
    expect(clientFlags.some((flag) => clientFlag(undefined, flag))).toBe(false);
  });
});
