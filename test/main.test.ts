import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { upsertPayload } from '../src/db/queries/oidc-payloads.ts';
import { maxBackchannelLogoutAttempts } from '../src/oidc/backchannel.ts';
import { startTestServer, type TestServer } from './support/server.ts';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({ CLEANUP_INTERVAL_SECONDS: '1' });
});

afterAll(async () => {
  await server.stop();
});

const payloadIds = async () =>
  (await server.database.db.selectFrom('oidc_payloads').select('id').where('model', '=', 'Session').execute()).map((row) => row.id);

describe('the running server', () => {
  it('sweeps expired sessions, codes and tokens from the database on its own, and keeps live ones', async () => {
    const past = new Date(Date.now() - 60_000);
    const future = new Date(Date.now() + 3_600_000);
    await upsertPayload(server.database.db, { model: 'Session', id: 'expired', payload: { kind: 'Session' }, grantId: null, userCode: null, uid: 'u1', accountId: null, expiresAt: past });
    await upsertPayload(server.database.db, { model: 'Session', id: 'live', payload: { kind: 'Session' }, grantId: null, userCode: null, uid: 'u2', accountId: null, expiresAt: future });
    await expect.poll(payloadIds, { timeout: 5_000, interval: 200 }).toEqual(['live']);
  });

  it('forgets back-channel logout calls made over a month ago, and keeps recent and unsettled ones', async () => {
    const longAgo = new Date(Date.now() - 31 * 24 * 3600 * 1000);
    const call = (sid: string, fields: { created_at: Date; sent_at?: Date; attempts?: number }) =>
      ({ client_id: 'hospital', account_id: 'someone', sid, sent_at: null, ...fields });
    await server.database.db.insertInto('backchannel_logouts').values([
      call('old-sent', { created_at: longAgo, sent_at: longAgo, attempts: 1 }),
      call('old-given-up', { created_at: longAgo, attempts: maxBackchannelLogoutAttempts }),
      // Unsettled calls stay whatever their age; a future attempt is due for them.
      call('old-pending', { created_at: longAgo, attempts: 3 }),
      call('recent-sent', { created_at: new Date(), sent_at: new Date(), attempts: 1 }),
    ]).execute();
    const sids = async () => (await server.database.db.selectFrom('backchannel_logouts').select('sid').orderBy('sid').execute()).map((row) => row.sid);
    await expect.poll(sids, { timeout: 5_000, interval: 200 }).toEqual(['old-pending', 'recent-sent']);
  });

  it('stops gracefully: it stops accepting and closes its database', async () => {
    const other = await startTestServer();
    expect((await fetch(`${other.issuer}/healthz`)).status).toBe(200);
    await other.stop();
    await expect(fetch(`${other.issuer}/healthz`)).rejects.toThrow();
    await expect(other.database.db.selectFrom('users').select('id').execute()).rejects.toThrow();
  });
});
