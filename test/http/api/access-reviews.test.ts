import type * as oidc from 'openid-client';
import { beforeAll, describe, expect, it } from 'vitest';

import { closeDueAccessReviews, remindAccessReviewers } from '../../../src/domain/access-reviews.ts';
import type { User } from '../../../src/db/schema.ts';
import { expectApiError, expectAuditedRefusal, redeemCode, signInThroughPages, useProvinceServer, userCaller, type UserCaller } from '../../support/admin-api.ts';
import { discoverRelyingParty } from '../../support/relying-party.ts';
import { createUser, registerTestClient } from '../../support/server.ts';

const world = useProvinceServer();
const redirectUri = 'http://localhost:8096/benh-vien/callback';
const password = 'rà soát quyền bệnh viện 2026';
const inAWeek = () => new Date(Date.now() + 7 * 24 * 3600 * 1000).toISOString();

let hospital: oidc.Configuration;
let clientId: string;
let kept: User;
let revoked: User;
let undecided: User;
let choGaoAdmin: UserCaller;

interface Item { id: string; user_id: string; username: string; decision: string | null; granted_via: { kind: string; name: string }[]; roles: string[] }

async function staffIn(username: string, fullName: string): Promise<User> {
  const user = await createUser(world.server, { username, password, fullName });
  await world.server.database.db.updateTable('users').set({ primary_org_unit_id: world.tree.anHuuHealthStation.id }).where('id', '=', user.id).execute();
  return user;
}

async function canSignIn(person: User): Promise<boolean> {
  try {
    const signIn = await signInThroughPages(hospital, redirectUri, { login: person.username, password });
    return (await redeemCode(hospital, signIn)).claims()?.sub === person.id;
  } catch (error) {
    if (String(error).includes('HTTP 403')) return false;
    throw error;
  }
}

beforeAll(async () => {
  const registered = await registerTestClient(world.server, { name: 'Bệnh viện đa khoa Cái Bè', redirectUris: [redirectUri], firstParty: true });
  clientId = registered.clientId;
  hospital = await discoverRelyingParty(world.server.issuer, clientId, registered.clientSecret);
  expect((await world.superAdmin('PUT', `/apps/${clientId}/roles`, { roles: [{ name: 'doctor' }, { name: 'nurse' }] })).status).toBe(200);
  expect((await world.superAdmin('PUT', `/apps/${clientId}/access-policy`, { access_policy: 'restricted' })).status).toBe(200);
  kept = await staffIn('bsnguyenan', 'Nguyễn Văn An');
  revoked = await staffIn('bstranbinh', 'Trần Thị Bình');
  undecided = await staffIn('dduongleco', 'Lê Văn Cơ');
  expect((await world.caiBeAdmin.api('POST', `/apps/${clientId}/assignments`, { org_unit_id: world.tree.caiBe.id, roles: ['nurse'] })).status).toBe(201);
  expect((await world.caiBeAdmin.api('POST', `/apps/${clientId}/assignments`, { user_id: revoked.id, roles: ['doctor'] })).status).toBe(201);
  await world.server.database.db.updateTable('users').set({ email: 'phamquocbao@caibe.tiengiang.gov.vn' }).where('id', '=', world.caiBeAdmin.user.id).execute();
  choGaoAdmin = await userCaller(world.server, { username: 'quantrichogao', password: 'quản trị huyện Chợ Gạo 2026', role: 'org_admin', unit: world.tree.choGao });
});

describe('starting a campaign', () => {
  it('refuses a unit admin outside their subtree or across the province, an open app, and a due date in the past', async () => {
    await expectAuditedRefusal(world.superAdmin, await world.caiBeAdmin.api('POST', '/access-reviews', {
      name: 'Chợ Gạo', org_unit_id: world.tree.choGao.id, due_at: inAWeek(), default_decision: 'keep',
    }), 'access_review.start');
    expectApiError(await world.caiBeAdmin.api('POST', '/access-reviews', { name: 'Cả tỉnh', client_id: clientId, due_at: inAWeek(), default_decision: 'keep' }), 403, 'forbidden', 'global administrator');
    const open = await registerTestClient(world.server, { name: 'Cổng thông tin', redirectUris: ['https://congthongtin.tiengiang.gov.vn/cb'] });
    expectApiError(await world.superAdmin('POST', '/access-reviews', { name: 'Mở', client_id: open.clientId, due_at: inAWeek(), default_decision: 'keep' }), 409, 'conflict', 'restrict it to assignments first');
    expectApiError(await world.caiBeAdmin.api('POST', '/access-reviews', { name: 'Quá hạn', org_unit_id: world.tree.caiBe.id, due_at: '2020-01-01', default_decision: 'keep' }), 400, 'invalid_input', 'due_at must be in the future');
    expectApiError(await world.caiBeAdmin.api('POST', '/access-reviews', { name: 'Không phạm vi', due_at: inAWeek(), default_decision: 'keep' }), 400, 'invalid_input', 'name an app');
    expectApiError(await world.caiBeAdmin.api('POST', '/access-reviews', { name: 'Sai ngày', org_unit_id: world.tree.caiBe.id, due_at: 'thứ hai', default_decision: 'keep' }), 400, 'invalid_input', 'due_at is a date');
  });
});

describe('a campaign with one keep, one revoke and one undecided item', () => {
  let reviewId: string;
  let items: Item[];

  it('puts each covered person before their nearest unit admin, with their roles and how they got them', async () => {
    const started = await world.caiBeAdmin.api<{ id: string; items: number; status: string }>('POST', '/access-reviews', {
      name: 'Rà soát quý IV — Bệnh viện', client_id: clientId, org_unit_id: world.tree.caiBe.id, due_at: inAWeek(), default_decision: 'keep',
    });
    expect(started.status).toBe(201);
    expect(started.body).toMatchObject({ items: 3, status: 'open' });
    reviewId = started.body.id;
    items = (await world.caiBeAdmin.api<{ items: Item[] }>('GET', `/access-review-items?review_id=${reviewId}`)).body.items;
    expect(items.map((item) => item.username).sort()).toEqual(['bsnguyenan', 'bstranbinh', 'dduongleco']);
    expect(items.find((item) => item.user_id === revoked.id)).toMatchObject({
      roles: ['doctor', 'nurse'],
      granted_via: expect.arrayContaining([{ kind: 'unit', name: 'Ủy ban nhân dân huyện Cái Bè' }, { kind: 'person', name: 'Trần Thị Bình' }]) as unknown,
    });
    // Chợ Gạo's admin reviews nobody here.
    expect((await choGaoAdmin.api<{ items: Item[] }>('GET', '/access-review-items')).body.items).toEqual([]);
  });

  it('lets only the item\'s reviewer decide it', async () => {
    const itemOf = (person: User) => items.find((item) => item.user_id === person.id)!.id;
    await expectAuditedRefusal(world.superAdmin, await choGaoAdmin.api('POST', '/access-review-items/decisions', {
      decisions: [{ item_id: itemOf(kept), decision: 'revoke' }],
    }), 'access_review.decide');
    const decided = await world.caiBeAdmin.api('POST', '/access-review-items/decisions', {
      decisions: [{ item_id: itemOf(kept), decision: 'keep' }, { item_id: itemOf(revoked), decision: 'revoke', comment: 'Đã chuyển công tác sang Sở Y tế' }],
    });
    expect(decided.body).toEqual({ decided: 2 });
    expectApiError(await world.caiBeAdmin.api('POST', '/access-review-items/decisions', { decisions: [{ item_id: itemOf(kept), decision: 'maybe' }] }), 400, 'invalid_input', 'decisions.0.decision');
  });

  it('reminds the reviewer by mail, not again before the reminder interval, then again after it', async () => {
    const mails = () => world.server.database.db.selectFrom('mail_outbox').select(['recipient', 'params']).where('template', '=', 'access_review_reminder').execute();
    expect(await remindAccessReviewers({ db: world.server.database.db }, new Date())).toBe(1);
    expect(await remindAccessReviewers({ db: world.server.database.db }, new Date())).toBe(0);
    expect(await remindAccessReviewers({ db: world.server.database.db }, new Date(Date.now() + 3 * 24 * 3600 * 1000 + 60_000))).toBe(1);
    const sent = await mails();
    expect(sent).toHaveLength(2);
    expect(sent[0]).toMatchObject({ recipient: 'phamquocbao@caibe.tiengiang.gov.vn', params: { review_name: 'Rà soát quý IV — Bệnh viện', items: '1' } });
  });

  it('closes: the undecided item is kept, the revoked person can no longer sign in to the app, the others can', async () => {
    expect(await canSignIn(revoked)).toBe(true);
    const closed = await world.caiBeAdmin.api('POST', `/access-reviews/${reviewId}/close`);
    expect(closed.body).toEqual({ kept: 2, revoked: 1, decided_by_default: 1 });
    expect(await canSignIn(revoked)).toBe(false);
    expect(await canSignIn(kept)).toBe(true);
    expect(await canSignIn(undecided)).toBe(true);
    expectApiError(await world.caiBeAdmin.api('POST', `/access-reviews/${reviewId}/close`), 409, 'conflict', 'closed already');
    const [event] = await world.server.database.db.selectFrom('audit_events').select(['actor_id', 'details']).where('action', '=', 'app.access_revoked').execute();
    expect(event).toMatchObject({ actor_id: world.caiBeAdmin.user.id, details: { user_id: revoked.id, access_review_id: reviewId } });
  });

  it('leaves a CSV an inspector can file, readable by a global auditor', async () => {
    const response = await fetch(`${world.server.issuer}/api/v1/access-reviews/${reviewId}/report`, {
      headers: { authorization: `Bearer ${world.caiBeAdmin.accessToken}`, accept: 'text/csv' },
    });
    const csv = await response.text();
    expect(response.headers.get('content-type')).toContain('text/csv');
    expect(csv).toContain('Trần Thị Bình');
    expect(csv).toMatch(/bstranbinh,.*,revoke,no,Phạm Quốc Bảo,[^,]+,Đã chuyển công tác sang Sở Y tế/);
    expect(csv).toMatch(/dduongleco,.*,keep,yes,,/);
    expect((await world.superAdmin('GET', `/access-reviews/${reviewId}`)).status).toBe(200);
    expectApiError(await choGaoAdmin.api('GET', `/access-reviews/${reviewId}`), 403, 'forbidden');
  });

  it('lets the person back in when an admin assigns the app to them by name', async () => {
    expect((await world.caiBeAdmin.api('POST', `/apps/${clientId}/assignments`, { user_id: revoked.id, roles: ['doctor'] })).status).toBe(201);
    expect(await canSignIn(revoked)).toBe(true);
  });
});

describe('the scheduled close', () => {
  it('closes a campaign on its due date with its default decision, as the system', async () => {
    const started = await world.caiBeAdmin.api<{ id: string }>('POST', '/access-reviews', {
      name: 'Rà soát tự đóng', org_unit_id: world.tree.anHuu.id, due_at: inAWeek(), default_decision: 'revoke',
    });
    expect(started.status).toBe(201);
    const db = world.server.database.db;
    expect(await closeDueAccessReviews({ db }, new Date())).toBe(0);
    expect(await closeDueAccessReviews({ db }, new Date(Date.now() + 8 * 24 * 3600 * 1000))).toBe(1);
    const review = await world.caiBeAdmin.api<{ status: string; revoked: number; items: number }>('GET', `/access-reviews/${started.body.id}`);
    expect(review.body).toMatchObject({ status: 'closed' });
    expect(review.body.revoked).toBe(review.body.items);
    expect(await canSignIn(kept)).toBe(false);
  });
});
