import { createRemoteJWKSet, jwtVerify } from 'jose';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { listAuditEvents } from '../../../src/db/queries/audit-events.ts';
import type { OrgUnit, User } from '../../../src/db/schema.ts';
import { provinceDate } from '../../../src/domain/personnel-decisions.ts';
import { runGovernanceJobs } from '../../../src/governance-jobs.ts';
import { createLogger } from '../../../src/logger.ts';
import { createBackchannelLogout } from '../../../src/oidc/backchannel.ts';
import { expectApiError, expectAuditedRefusal, grantDirectly, redeemCode, signInThroughPages, useProvinceServer } from '../../support/admin-api.ts';
import { startBackchannelReceiver, type BackchannelReceiver } from '../../support/backchannel-receiver.ts';
import { discoverRelyingParty } from '../../support/relying-party.ts';
import { createUser, registerTestClient } from '../../support/server.ts';

const world = useProvinceServer();
const redirectUri = 'http://localhost:8097/benh-vien/callback';
const password = 'quyết định nhân sự 2026 dài';
const day = 24 * 3600 * 1000;

interface Decision {
  id: string;
  status: string;
  kind: string;
  effective_date: string;
  org_unit_before: { id: string } | null;
  org_unit_after: { id: string } | null;
  last_error: string | null;
}

let hospital: oidc.Configuration;
let clientId: string;
let receiver: BackchannelReceiver;

/** The province's date `days` from now, as a decision names it. */
const dateIn = (days: number) => provinceDate(new Date(Date.now() + days * day));

/** The governance job, as the server runs it, at a moved clock. */
const runJobAt = (now: Date) => runGovernanceJobs({
  db: world.server.database.db, backchannelLogout: createBackchannelLogout(), config: world.server.config, logger: createLogger('silent'),
}, now);

async function staffIn(username: string, unit: OrgUnit): Promise<User> {
  const user = await createUser(world.server, { username, password, fullName: `Cán bộ ${username}` });
  await world.server.database.db.updateTable('users').set({ primary_org_unit_id: unit.id }).where('id', '=', user.id).execute();
  return user;
}

const decision = (body: Record<string, unknown>) => ({ decision_number: '125/QĐ-UBND', decision_date: dateIn(-3), effective_date: dateIn(1), ...body });

beforeAll(async () => {
  receiver = await startBackchannelReceiver();
  const registered = await registerTestClient(world.server, {
    name: 'Phần mềm quản lý bệnh viện', redirectUris: [redirectUri], backchannelLogoutUri: receiver.url, firstParty: true,
  });
  clientId = registered.clientId;
  hospital = await discoverRelyingParty(world.server.issuer, clientId, registered.clientSecret);
  expect((await world.superAdmin('PUT', `/apps/${clientId}/roles`, { roles: [{ name: 'nurse' }] })).status).toBe(200);
  expect((await world.superAdmin('PUT', `/apps/${clientId}/access-policy`, { access_policy: 'restricted' })).status).toBe(200);
  // The hospital system is open to Cái Bè's people only.
  expect((await world.superAdmin('POST', `/apps/${clientId}/assignments`, { org_unit_id: world.tree.caiBe.id, roles: ['nurse'] })).status).toBe(201);
});

afterAll(async () => {
  await receiver.close();
});

describe('a transfer with an effective date', () => {
  it('moves the person on that date, keeps what came from the old district through the grace period, and ends it after', async () => {
    const mover = await staffIn('dieudongcaibe', world.tree.anHuu);
    const group = await world.caiBeAdmin.api<{ id: string }>('POST', '/groups', { org_unit_id: world.tree.anHuu.id, name: 'Tổ công tác An Hữu' });
    expect((await world.caiBeAdmin.api('PUT', `/groups/${group.body.id}/members/${mover.id}`)).status).toBe(204);
    await grantDirectly(world.server, { userId: mover.id }, 'helpdesk', world.tree.anHuu);

    const recorded = await world.superAdmin<Decision>('POST', '/personnel-decisions', decision({ kind: 'transfer', user_id: mover.id, org_unit_id: world.tree.binhPhan.id }));
    expect(recorded.status).toBe(201);
    expect(recorded.body).toMatchObject({ status: 'pending', org_unit_before: { id: world.tree.anHuu.id }, org_unit_after: { id: world.tree.binhPhan.id } });
    const future = await world.caiBeAdmin.api<{ items: Decision[] }>('GET', `/personnel-decisions?status=pending&future=true&user_id=${mover.id}`);
    expect(future.body.items.map((item) => item.id)).toEqual([recorded.body.id]);

    // The day it takes effect: the person works in Bình Phan (Chợ Gạo) now.
    const moveDay = new Date(Date.now() + day + 3600 * 1000);
    expect((await runJobAt(moveDay))['personnel decisions']).toEqual({ applied: 1, failed: 0 });
    expect((await world.superAdmin<Decision>('GET', `/personnel-decisions/${recorded.body.id}`)).body.status).toBe('applied');
    const moved = await world.superAdmin<{ org_unit: { id: string }; concurrent_units: unknown[] }>('GET', `/users/${mover.id}`);
    expect(moved.body.org_unit.id).toBe(world.tree.binhPhan.id);
    expect(moved.body.concurrent_units).toEqual([]);

    // Within the grace period the old district's app still lets them in, and the claims show the new unit.
    const signIn = await signInThroughPages(hospital, redirectUri, { login: mover.username, password }, { scope: 'openid gov offline_access', prompt: 'consent' });
    const tokens = await redeemCode(hospital, signIn);
    const claims = await oidc.fetchUserInfo(hospital, tokens.access_token, mover.id);
    expect(claims).toMatchObject({ org_unit: { id: world.tree.binhPhan.id, code: 'TG.CHOGAO.BINHPHAN' }, app_roles: ['nurse'] });
    const refreshed = await oidc.refreshTokenGrant(hospital, tokens.refresh_token!);

    // Halfway through the grace period nothing has ended yet.
    expect((await runJobAt(new Date(moveDay.getTime() + 7 * day)))['mover grace periods']).toEqual({ people: 0 });
    const refreshedAgain = await oidc.refreshTokenGrant(hospital, refreshed.refresh_token!);

    // After it, the old district's access is gone: no refresh, no userinfo, no group, no role over the old commune.
    expect((await runJobAt(new Date(moveDay.getTime() + 15 * day)))['mover grace periods']).toEqual({ people: 1 });
    await expect(oidc.refreshTokenGrant(hospital, refreshedAgain.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    await expect(oidc.fetchUserInfo(hospital, refreshedAgain.access_token, mover.id)).rejects.toThrow();
    const after = await world.superAdmin<{ groups: unknown[] }>('GET', `/users/${mover.id}`);
    expect(after.body.groups).toEqual([]);
    const roles = await world.superAdmin<{ items: unknown[] }>('GET', `/role-assignments?user_id=${mover.id}`);
    expect(roles.body.items).toEqual([]);

    const [applied] = await listAuditEvents(world.server.database.db, { action: 'personnel_decision.apply', targetId: mover.id, subtrees: null, limit: 1 });
    expect(applied?.details).toMatchObject({
      decision: { id: recorded.body.id, kind: 'transfer', number: '125/QĐ-UBND', date: dateIn(-3) },
      org_unit_before_id: world.tree.anHuu.id, org_unit_after_id: world.tree.binhPhan.id,
      grace: { old_unit_id: world.tree.anHuu.id, groups: ['Tổ công tác An Hữu'], roles: ['helpdesk'] },
    });
  });
});

describe('a retirement', () => {
  it('disables the account on its date: tokens issued before stop working and the app hears of it over the back channel', async () => {
    const retiree = await staffIn('nghihuucaibe', world.tree.anHuuHealthStation);
    const signIn = await signInThroughPages(hospital, redirectUri, { login: retiree.username, password }, { scope: 'openid offline_access', prompt: 'consent' });
    const tokens = await redeemCode(hospital, signIn);
    expect((await oidc.tokenIntrospection(hospital, tokens.access_token)).active).toBe(true);

    const recorded = await world.caiBeAdmin.api<Decision>('POST', '/personnel-decisions', decision({ kind: 'retirement', decision_number: '88/QĐ-UBND', user_id: retiree.id }));
    expect(recorded.status).toBe(201);
    // Before its date nothing changes.
    await runJobAt(new Date());
    expect((await oidc.tokenIntrospection(hospital, tokens.access_token)).active).toBe(true);

    const delivered = receiver.tokens.length;
    await runJobAt(new Date(Date.now() + day + 3600 * 1000));
    const user = await world.superAdmin<{ status: string }>('GET', `/users/${retiree.id}`);
    expect(user.body.status).toBe('disabled');
    expect((await oidc.tokenIntrospection(hospital, tokens.access_token)).active).toBe(false);
    await expect(oidc.fetchUserInfo(hospital, tokens.access_token, retiree.id)).rejects.toThrow();
    await expect(oidc.refreshTokenGrant(hospital, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });

    await expect.poll(() => receiver.tokens.length).toBe(delivered + 1);
    const { payload } = await jwtVerify(receiver.tokens.at(-1)!, createRemoteJWKSet(new URL(`${world.server.issuer}/jwks`)), {
      issuer: world.server.issuer, audience: clientId, typ: 'logout+jwt',
    });
    expect(payload.sub).toBe(retiree.id);
    expect(payload['sid']).toBe(tokens.claims()!['sid']);

    const [disabled] = await listAuditEvents(world.server.database.db, { action: 'user.disable', targetId: retiree.id, subtrees: null, limit: 1 });
    expect(disabled).toMatchObject({ actor_type: 'system', details: { decision: { kind: 'retirement', number: '88/QĐ-UBND' } } });
  });
});

describe('a future-dated decision', () => {
  it('can be cancelled, and then is never applied', async () => {
    const person = await staffIn('huyquyetdinh', world.tree.anHuu);
    const recorded = await world.caiBeAdmin.api<Decision>('POST', '/personnel-decisions', decision({ kind: 'dismissal', decision_number: '7/QĐ-KL', user_id: person.id, effective_date: dateIn(30) }));
    const cancelled = await world.caiBeAdmin.api<Decision>('POST', `/personnel-decisions/${recorded.body.id}/cancel`);
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.status).toBe('cancelled');
    await runJobAt(new Date(Date.now() + 31 * day));
    expect((await world.superAdmin<{ status: string }>('GET', `/users/${person.id}`)).body.status).toBe('active');
    expect((await world.superAdmin<Decision>('GET', `/personnel-decisions/${recorded.body.id}`)).body.status).toBe('cancelled');
    expectApiError(await world.caiBeAdmin.api('POST', `/personnel-decisions/${recorded.body.id}/cancel`), 409, 'conflict', 'already cancelled');
  });

  it('dated today takes effect at once', async () => {
    const person = await staffIn('kiemnhiemanhuu', world.tree.anHuu);
    const recorded = await world.caiBeAdmin.api<Decision>('POST', '/personnel-decisions', decision({
      kind: 'concurrent_appointment', user_id: person.id, org_unit_id: world.tree.anHuuHealthStation.id, effective_date: dateIn(0),
    }));
    expect(recorded.body.status).toBe('applied');
    const user = await world.superAdmin<{ concurrent_units: { id: string }[] }>('GET', `/users/${person.id}`);
    expect(user.body.concurrent_units.map((unit) => unit.id)).toEqual([world.tree.anHuuHealthStation.id]);
  });
});

describe('a unit admin', () => {
  it('cannot record a decision for someone outside their subtree, nor move someone of theirs out of it', async () => {
    const outsider = await staffIn('ngoaihuyen', world.tree.binhPhan);
    const own = await staffIn('trongcaibe', world.tree.anHuu);
    const forOutsider = await world.caiBeAdmin.api('POST', '/personnel-decisions', decision({ kind: 'leave', user_id: outsider.id }));
    expectApiError(forOutsider, 403, 'forbidden', 'outside the part of the org tree you administer');
    await expectAuditedRefusal(world.superAdmin, forOutsider, 'personnel_decision.record');
    const outOfScope = await world.caiBeAdmin.api('POST', '/personnel-decisions', decision({ kind: 'transfer', user_id: own.id, org_unit_id: world.tree.choGao.id }));
    expectApiError(outOfScope, 403, 'forbidden', 'TG.CHOGAO');
    // Nor read one about people elsewhere.
    const elsewhere = await world.superAdmin<Decision>('POST', '/personnel-decisions', decision({ kind: 'leave', user_id: outsider.id, effective_date: dateIn(60) }));
    expectApiError(await world.caiBeAdmin.api('GET', `/personnel-decisions/${elsewhere.body.id}`), 403, 'forbidden');
    expectApiError(await world.caiBeAdmin.api('POST', `/personnel-decisions/${elsewhere.body.id}/cancel`), 403, 'forbidden');
    const listed = await world.caiBeAdmin.api<{ items: Decision[] }>('GET', '/personnel-decisions');
    expect(listed.body.items.map((item) => item.id)).not.toContain(elsewhere.body.id);
  });

  it('sees who is being transferred in, but cannot cancel a decision it could not have made', async () => {
    const incoming = await staffIn('chuyenden', world.tree.binhPhan);
    const transfer = await world.superAdmin<Decision>('POST', '/personnel-decisions', decision({ kind: 'transfer', user_id: incoming.id, org_unit_id: world.tree.anHuu.id, effective_date: dateIn(40) }));
    expect((await world.caiBeAdmin.api('GET', `/personnel-decisions/${transfer.body.id}`)).status).toBe(200);
    const refused = await world.caiBeAdmin.api('POST', `/personnel-decisions/${transfer.body.id}/cancel`);
    await expectAuditedRefusal(world.superAdmin, refused, 'personnel_decision.cancel');
    expect((await world.superAdmin<Decision>('GET', `/personnel-decisions/${transfer.body.id}`)).body.status).toBe('pending');
  });
});

describe('malformed decisions', () => {
  it('are refused with 400, naming the field', async () => {
    const person = await staffIn('saidulieu', world.tree.anHuu);
    expectApiError(await world.caiBeAdmin.api('POST', '/personnel-decisions', decision({ kind: 'leave', user_id: person.id, effective_date: 'ngày mai' })), 400, 'invalid_input', 'body.effective_date');
    expectApiError(await world.caiBeAdmin.api('POST', '/personnel-decisions', decision({ kind: 'promotion', user_id: person.id })), 400, 'invalid_input', 'body.kind');
    expectApiError(await world.caiBeAdmin.api('POST', '/personnel-decisions', decision({ kind: 'transfer', user_id: person.id })), 400, 'invalid_input', 'body.org_unit_id');
    expectApiError(await world.caiBeAdmin.api('POST', '/personnel-decisions', decision({ kind: 'retirement', user_id: person.id, decision_date: '2026-02-30' })), 400, 'invalid_input', 'body.decision_date');
    expectApiError(await world.caiBeAdmin.api('GET', '/personnel-decisions?status=later'), 400, 'invalid_input', 'query.status');
  });

  it('the same decision recorded twice for one person is a conflict', async () => {
    const person = await staffIn('ghihailan', world.tree.anHuu);
    const body = decision({ kind: 'leave', user_id: person.id, effective_date: dateIn(20) });
    expect((await world.caiBeAdmin.api('POST', '/personnel-decisions', body)).status).toBe(201);
    expectApiError(await world.caiBeAdmin.api('POST', '/personnel-decisions', body), 409, 'conflict', 'already recorded');
  });
});
