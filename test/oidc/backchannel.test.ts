import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { listBackchannelLogouts } from '../../src/db/queries/backchannel-logouts.ts';
import { createLogger } from '../../src/logger.ts';
import { createBackchannelLogout, deliverDueBackchannelLogouts, maxBackchannelLogoutAttempts } from '../../src/oidc/backchannel.ts';
import { startBackchannelReceiver, type BackchannelReceiver } from '../support/backchannel-receiver.ts';
import { registerTestClient, startTestServer, type TestServer } from '../support/server.ts';

let server: TestServer;
let receiver: BackchannelReceiver;
let clientId: string;
let queue: ReturnType<typeof createBackchannelLogout>;

beforeAll(async () => {
  server = await startTestServer();
  receiver = await startBackchannelReceiver();
  const client = await registerTestClient(server, {
    name: 'Hệ thống điều hành tác nghiệp',
    redirectUris: ['http://localhost:8081/callback'],
    backchannelLogoutUri: receiver.url,
  });
  clientId = client.clientId;
  queue = createBackchannelLogout();
});

afterAll(async () => {
  await server.stop();
  await receiver.close();
});

const recordsOf = (accountId: string) => listBackchannelLogouts(server.database.db, { accountId }, maxBackchannelLogoutAttempts);
const tokensFor = (sid: string) => receiver.tokens.filter((token) => decodeJwt(token)['sid'] === sid);

describe('back-channel logout through the queue', () => {
  it('sends a queued call within a second and records it as sent', async () => {
    const queued = await queue(server.database.db, 'account-sent', [{ clientId, sid: 'sid-sent' }]);
    expect(queued).toEqual([{ clientId, deliveryId: expect.any(String) as string }]);

    await expect.poll(() => tokensFor('sid-sent').length, { timeout: 2_000 }).toBe(1);
    expect(decodeJwt(tokensFor('sid-sent')[0]!)).toMatchObject({ sub: 'account-sent', aud: clientId, sid: 'sid-sent' });
    await expect.poll(async () => (await recordsOf('account-sent'))[0]?.status).toBe('sent');
    expect((await recordsOf('account-sent'))[0]).toMatchObject({ id: queued[0]!.deliveryId, attempts: 1, lastError: null, nextAttemptAt: null });
  });

  it('queues nothing for an app without a back-channel logout URI, nor for a transaction that rolls back', async () => {
    const silent = await registerTestClient(server, { name: 'Cổng thông tin', redirectUris: ['http://localhost:8082/callback'] });
    expect(await queue(server.database.db, 'account-silent', [{ clientId: silent.clientId, sid: 'sid-silent' }])).toEqual([]);

    await expect(server.database.db.transaction().execute(async (trx) => {
      await queue(trx, 'account-rolled-back', [{ clientId, sid: 'sid-rolled-back' }]);
      throw new Error('the change that ended the session failed');
    })).rejects.toThrow('the change that ended the session failed');
    expect(await recordsOf('account-rolled-back')).toEqual([]);
    expect(await recordsOf('account-silent')).toEqual([]);
  });

  it('retries an app that is down, backing off, and shows the last error until the app answers', { timeout: 20_000 }, async () => {
    receiver.failWith = 503;
    try {
      await queue(server.database.db, 'account-retried', [{ clientId, sid: 'sid-retried' }]);
      await expect.poll(async () => (await recordsOf('account-retried'))[0]?.lastError, { timeout: 2_000 }).toContain('503');
      const [pending] = await recordsOf('account-retried');
      expect(pending).toMatchObject({ status: 'pending', attempts: 1 });
      // The first retry waits five seconds, not the next poll.
      const wait = pending!.nextAttemptAt!.getTime() - Date.now();
      expect(wait).toBeGreaterThan(3_000);
      expect(wait).toBeLessThanOrEqual(5_000);
      expect(tokensFor('sid-retried')).toHaveLength(1);
    } finally {
      receiver.failWith = null;
    }
    await expect.poll(async () => (await recordsOf('account-retried'))[0]?.status, { timeout: 10_000, interval: 250 }).toBe('sent');
    expect((await recordsOf('account-retried'))[0]).toMatchObject({ attempts: 2, lastError: null });
    expect(tokensFor('sid-retried')).toHaveLength(2);
  });

  it('gives up after the last attempt and shows the call as failed, with its error', async () => {
    receiver.failWith = 500;
    try {
      const [queued] = await queue(server.database.db, 'account-failed', [{ clientId, sid: 'sid-failed' }]);
      // As if every earlier attempt had failed already.
      await server.database.db.updateTable('backchannel_logouts').set({ attempts: maxBackchannelLogoutAttempts - 1 }).where('id', '=', queued!.deliveryId).execute();
      await expect.poll(async () => (await recordsOf('account-failed'))[0]?.status, { timeout: 2_000 }).toBe('failed');
      expect((await recordsOf('account-failed'))[0]).toMatchObject({ attempts: maxBackchannelLogoutAttempts, nextAttemptAt: null });
      expect((await recordsOf('account-failed'))[0]!.lastError).toContain('500');
      await new Promise((resolve) => setTimeout(resolve, 600));
      expect(tokensFor('sid-failed')).toHaveLength(1);
    } finally {
      receiver.failWith = null;
    }
  });

  it('sends each call once when several nodes deliver at the same moment', async () => {
    const sessions = Array.from({ length: 30 }, (_, index) => ({ clientId, sid: `sid-race-${index}` }));
    await queue(server.database.db, 'account-race', sessions);
    const otherNode = { db: server.database.db, oidc: server.oidc, logger: createLogger('silent') };
    // This process's own poller is a third sender.
    await Promise.all([deliverDueBackchannelLogouts(otherNode), deliverDueBackchannelLogouts(otherNode)]);
    await expect.poll(async () => (await recordsOf('account-race')).filter((record) => record.status === 'sent').length, { timeout: 5_000 }).toBe(30);
    for (const { sid } of sessions) expect(tokensFor(sid), sid).toHaveLength(1);
  });
});
