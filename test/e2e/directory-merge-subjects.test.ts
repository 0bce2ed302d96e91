import { decodeJwt } from 'jose';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { User } from '../../src/db/schema.ts';
import { apiClient, apiResource, grantDirectly, redeemCode, signInThroughPages, useProvinceServer } from '../support/admin-api.ts';
import { startBackchannelReceiver, type BackchannelReceiver } from '../support/backchannel-receiver.ts';
import { authorizationRequest, discoverRelyingParty } from '../support/relying-party.ts';
import { createUser, registerTestClient } from '../support/server.ts';

/**
 * The end-to-end promise of a directory merge: `sub` never changes for a person an app already
 * knows. Two real apps (openid-client): the hospital system knew the merged-away account (Long An's),
 * the task system knew the survivor (this province's). After the merge the person signs in with the
 * survivor's credentials, and each app sees the sub it had: in the ID token, at userinfo, in
 * introspection, after a refresh, in the back-channel logout token, and in the login prompt's check
 * of id_token_hint.
 */

const world = useProvinceServer();
const hospitalRedirect = 'https://benhvien.tiengiang.gov.vn/cb';
const tasksRedirect = 'https://nhiemvu.tiengiang.gov.vn/cb';
const longAnCredentials = { login: 'hoa.longan', password: 'mật khẩu ở Long An 2026' };
const survivorCredentials = { login: 'hoant', password: 'mật khẩu ở Tiền Giang 2026' };

let receiver: BackchannelReceiver;
let hospital: oidc.Configuration;
let tasks: oidc.Configuration;
let mergedAway: User;
let survivor: User;

beforeAll(async () => {
  receiver = await startBackchannelReceiver();
  const hospitalApp = await registerTestClient(world.server, { name: 'Phần mềm bệnh viện', redirectUris: [hospitalRedirect], backchannelLogoutUri: receiver.url });
  const tasksApp = await registerTestClient(world.server, { name: 'Hệ thống nhiệm vụ 4 cấp', redirectUris: [tasksRedirect] });
  hospital = await discoverRelyingParty(world.server.issuer, hospitalApp.clientId, hospitalApp.clientSecret);
  tasks = await discoverRelyingParty(world.server.issuer, tasksApp.clientId, tasksApp.clientSecret);
  mergedAway = await createUser(world.server, { username: longAnCredentials.login, password: longAnCredentials.password, fullName: 'Ngô Thị Hoa' });
  survivor = await createUser(world.server, { username: survivorCredentials.login, password: survivorCredentials.password, fullName: 'Ngô Thị Hoa' });
});

afterAll(async () => {
  await receiver.close();
});

const signIn = async (app: oidc.Configuration, redirectUri: string, credentials: { login: string; password: string }) => {
  const pages = await signInThroughPages(app, redirectUri, credentials, { scope: 'openid profile offline_access', prompt: 'consent' });
  return { ...pages, tokens: await redeemCode(app, pages) };
};

describe('after a merge, every app keeps the sub it knew', () => {
  let hospitalBefore: Awaited<ReturnType<typeof signIn>>;
  let tasksBefore: Awaited<ReturnType<typeof signIn>>;

  it('merges the Long An account into this province\'s, each app having signed in one of them', async () => {
    hospitalBefore = await signIn(hospital, hospitalRedirect, longAnCredentials);
    expect(hospitalBefore.tokens.claims()?.sub).toBe(mergedAway.id);
    tasksBefore = await signIn(tasks, tasksRedirect, survivorCredentials);
    expect(tasksBefore.tokens.claims()?.sub).toBe(survivor.id);

    const proposed = await world.superAdmin<{ items: { id: string }[] }>('POST', '/directory-merge/candidates', { merged_user_id: mergedAway.id, survivor_id: survivor.id });
    expect(proposed.status).toBe(201);
    const confirmed = await world.superAdmin('POST', `/directory-merge/candidates/${proposed.body.items[0]!.id}/confirm`);
    expect(confirmed.status, JSON.stringify(confirmed.body)).toBe(200);
  });

  it('ended the merged-away account\'s tokens, telling the hospital system by the sub it knew', async () => {
    await expect.poll(() => receiver.tokens.length, { timeout: 5_000 }).toBe(1);
    expect(decodeJwt(receiver.tokens[0]!)).toMatchObject({ sub: mergedAway.id, aud: hospital.clientMetadata().client_id });
    expect((await oidc.tokenIntrospection(hospital, hospitalBefore.tokens.access_token)).active).toBe(false);
    await expect(oidc.refreshTokenGrant(hospital, hospitalBefore.tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('refuses the merged-away account\'s own credentials', async () => {
    await expect(signIn(hospital, hospitalRedirect, longAnCredentials)).rejects.toThrow(/stopped on .*\/interaction\//);
  });

  it('shows the hospital system the merged-away sub when the person signs in with the survivor\'s credentials', async () => {
    const after = await signIn(hospital, hospitalRedirect, survivorCredentials);
    expect(after.tokens.claims()?.sub).toBe(mergedAway.id);
    expect((await oidc.fetchUserInfo(hospital, after.tokens.access_token, mergedAway.id)).sub).toBe(mergedAway.id);
    expect(await oidc.tokenIntrospection(hospital, after.tokens.access_token)).toMatchObject({ active: true, sub: mergedAway.id });
    const refreshed = await oidc.refreshTokenGrant(hospital, after.tokens.refresh_token!);
    expect(refreshed.claims()?.sub).toBe(mergedAway.id);

    // The app names the person by its own sub in id_token_hint: the session's person is that person, no new login.
    const { url } = await authorizationRequest(hospital, hospitalRedirect, { prompt: 'none', id_token_hint: after.tokens.id_token! });
    const silent = await after.agent.follow(url.href, hospitalRedirect);
    expect(silent.kind).toBe('redirect');
    expect(new URL(silent.url).searchParams.get('code')).toBeTruthy();
    expect(new URL(silent.url).searchParams.get('error')).toBeNull();
  });

  it('names the person by the hospital system\'s sub in its JWT access tokens, which Mekong ID\'s API reads back as the survivor', async () => {
    // The hospital system, trusted with the admin API here, signs in an auditor.
    await world.server.database.db.updateTable('clients').set({ admin_api_access: true }).where('client_id', '=', hospital.clientMetadata().client_id).execute();
    await grantDirectly(world.server, { userId: survivor.id }, 'auditor', null);
    const resource = apiResource(world.server);
    const pages = await signInThroughPages(hospital, hospitalRedirect, survivorCredentials, { scope: 'openid api', resource, prompt: 'consent' });
    const tokens = await redeemCode(hospital, pages, { resource });
    expect(decodeJwt(tokens.access_token)['sub']).toBe(mergedAway.id);
    expect((await apiClient(world.server, tokens.access_token)('GET', '/audit-events?limit=1')).status).toBe(200);
  });

  it('keeps showing the task system the survivor\'s sub, on a refresh of its old grant and on a new sign-in', async () => {
    const refreshed = await oidc.refreshTokenGrant(tasks, tasksBefore.tokens.refresh_token!);
    expect(refreshed.claims()?.sub).toBe(survivor.id);
    expect((await oidc.fetchUserInfo(tasks, refreshed.access_token, survivor.id)).sub).toBe(survivor.id);
    const again = await signIn(tasks, tasksRedirect, survivorCredentials);
    expect(again.tokens.claims()?.sub).toBe(survivor.id);
    expect(await oidc.tokenIntrospection(tasks, again.tokens.access_token)).toMatchObject({ active: true, sub: survivor.id });
  });

  it('shows an app that knew neither account the survivor\'s id', async () => {
    const portalApp = await registerTestClient(world.server, { name: 'Cổng dịch vụ công', redirectUris: ['https://dichvucong.tiengiang.gov.vn/cb'] });
    const portal = await discoverRelyingParty(world.server.issuer, portalApp.clientId, portalApp.clientSecret);
    const first = await signIn(portal, 'https://dichvucong.tiengiang.gov.vn/cb', survivorCredentials);
    expect(first.tokens.claims()?.sub).toBe(survivor.id);
  });

  it('tells the hospital system, by the sub it knew, when the survivor is disabled', async () => {
    const before = receiver.tokens.length;
    expect((await world.superAdmin('POST', `/users/${survivor.id}/disable`)).status).toBe(200);
    await expect.poll(() => receiver.tokens.length, { timeout: 5_000 }).toBeGreaterThan(before);
    const sent = receiver.tokens.slice(before).map((token) => decodeJwt(token));
    expect(sent.every((token) => token.sub === mergedAway.id)).toBe(true);
  });
});
