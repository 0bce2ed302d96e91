import { describe, expect, it } from 'vitest';

import { expectApiError, expectAuditedRefusal, useProvinceServer } from '../../support/admin-api.ts';
import { registerTestClient } from '../../support/server.ts';

const world = useProvinceServer();
const hospitalApi = 'https://benhvien.tiengiang.gov.vn/api';

async function taskTracking(): Promise<string> {
  return (await registerTestClient(world.server, { name: 'Hệ thống chỉ đạo điều hành', redirectUris: ['https://chidao.tiengiang.gov.vn/cb'] })).clientId;
}

describe('the token exchange allow-list in the admin API', () => {
  it('lets a global super administrator allow, list and revoke a pair, each change audited with who made it', async () => {
    const clientId = await taskTracking();
    const allowed = await world.superAdmin('PUT', '/token-exchange-permissions', { client_id: clientId, audience: hospitalApi, scope: 'records:read' });
    expect(allowed.status, JSON.stringify(allowed.body)).toBe(200);
    expect(allowed.body).toMatchObject({ client_id: clientId, audience: hospitalApi, scope: 'records:read' });

    const widened = await world.superAdmin('PUT', '/token-exchange-permissions', { client_id: clientId, audience: hospitalApi, scope: 'records:read appointments:read' });
    expect(widened.body).toMatchObject({ scope: 'records:read appointments:read' });
    const listed = await world.superAdmin<{ items: { client_id: string; scope: string }[]; next: string | null }>('GET', `/token-exchange-permissions?client_id=${clientId}`);
    expect(listed.body).toEqual({ items: [expect.objectContaining({ client_id: clientId, scope: 'records:read appointments:read' })], next: null });

    const query = new URLSearchParams({ client_id: clientId, audience: hospitalApi }).toString();
    expect((await world.superAdmin('DELETE', `/token-exchange-permissions?${query}`)).status).toBe(204);
    expect((await world.superAdmin<{ items: unknown[] }>('GET', `/token-exchange-permissions?client_id=${clientId}`)).body.items).toEqual([]);
    expectApiError(await world.superAdmin('DELETE', `/token-exchange-permissions?${query}`), 404, 'not_found');

    const events = await world.superAdmin<{ items: { action: string; actor: { type: string; name: string | null }; before: unknown; after: unknown }[] }>(
      'GET', `/audit-events?target_type=client&target_id=${clientId}&limit=10`,
    );
    expect(events.body.items.map((event) => event.action).filter((action) => action.startsWith('token_exchange.')).sort())
      .toEqual(['token_exchange.allow', 'token_exchange.allow', 'token_exchange.revoke']);
  });

  it('refuses an org admin of a district, and audits the refusal', async () => {
    const clientId = await taskTracking();
    const refused = await world.caiBeAdmin.api('PUT', '/token-exchange-permissions', { client_id: clientId, audience: hospitalApi, scope: 'records:read' });
    await expectAuditedRefusal(world.superAdmin, refused, 'token_exchange.allow');
    await expectAuditedRefusal(world.superAdmin, await world.caiBeAdmin.api('GET', '/token-exchange-permissions'), 'token_exchange.list');
  });

  it('refuses an audience that is not an absolute URI, and a client that does not exist', async () => {
    const clientId = await taskTracking();
    expectApiError(await world.superAdmin('PUT', '/token-exchange-permissions', { client_id: clientId, audience: '/api', scope: 'read' }), 400, 'invalid_input', 'absolute URI');
    expectApiError(await world.superAdmin('PUT', '/token-exchange-permissions', { client_id: 'khong-co', audience: hospitalApi, scope: 'read' }), 400, 'invalid_input', 'no active client');
  });
});
