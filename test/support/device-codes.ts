import type { TestServer } from './server.ts';

/**
 * Makes a device code's ten minutes pass: its stored expiry, and the one oidc-provider reads in its
 * payload (it judges expiry itself, from the payload).
 */
export async function expireDeviceCode(server: TestServer, userCode: string): Promise<void> {
  const { db } = server.database;
  const { id, payload } = await db.selectFrom('oidc_payloads').select(['id', 'payload'])
    .where('model', '=', 'DeviceCode').where('user_code', '=', userCode.replace('-', '')).executeTakeFirstOrThrow();
  const past = Math.floor(Date.now() / 1000) - 1;
  await db.updateTable('oidc_payloads').set({ expires_at: new Date(past * 1000), payload: { ...payload, exp: past } })
    .where('model', '=', 'DeviceCode').where('id', '=', id).execute();
}
