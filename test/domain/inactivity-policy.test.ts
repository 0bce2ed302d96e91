import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';

import { listAuditEvents } from '../../src/db/queries/audit-events.ts';
import type { OrgUnit, User } from '../../src/db/schema.ts';
import { runGovernanceJobs } from '../../src/governance-jobs.ts';
import { createLogger } from '../../src/logger.ts';
import { renderMail } from '../../src/mail/templates.ts';
import { createBackchannelLogout } from '../../src/oidc/backchannel.ts';
import { expectApiError, useProvinceServer } from '../support/admin-api.ts';
import { createUser } from '../support/server.ts';

// The test server runs with the defaults: a warning after 60 days without a login, suspension after 90.
const world = useProvinceServer();
const day = 24 * 3600 * 1000;
const start = Date.now();

const runJobAt = (daysLater: number) => runGovernanceJobs({
  db: world.server.database.db, backchannelLogout: createBackchannelLogout(), config: world.server.config, logger: createLogger('silent'),
}, new Date(start + daysLater * day));

async function personIn(username: string, unit: OrgUnit): Promise<User> {
  const user = await createUser(world.server, { username, password: 'không bao giờ đăng nhập', email: `${username}@tiengiang.gov.vn` });
  await world.server.database.db.updateTable('users').set({ primary_org_unit_id: unit.id }).where('id', '=', user.id).execute();
  return user;
}

const mailsTo = (user: User) => world.server.database.db.selectFrom('mail_outbox').select(['template', 'params']).where('recipient', '=', user.email!).execute();
const statusOf = async (user: User) => (await world.server.database.db.selectFrom('users').select('status').where('id', '=', user.id).executeTakeFirstOrThrow()).status;

describe('the inactivity policy', () => {
  // First: the runs further down suspend everyone in this file who never signed in, the admin included.
  it('is set only by admins of the unit, within 0 to 3650 days', async () => {
    expectApiError(await world.caiBeAdmin.api('PUT', `/org-units/${world.tree.choGao.id}/inactivity-policy`, { warn_days: 1, suspend_days: 2 }), 403, 'forbidden');
    expectApiError(await world.caiBeAdmin.api('PUT', `/org-units/${world.tree.anHuu.id}/inactivity-policy`, { warn_days: -1, suspend_days: null }), 400, 'invalid_input', 'body.warn_days');
    expectApiError(await world.caiBeAdmin.api('PUT', `/org-units/${world.tree.anHuu.id}/inactivity-policy`, { warn_days: 'ba mươi' }), 400, 'invalid_input', 'body.warn_days');
  });

  it('lets a unit\'s own setting beat the province default for its whole subtree', async () => {
    const policy = await world.caiBeAdmin.api('PUT', `/org-units/${world.tree.anHuu.id}/inactivity-policy`, { warn_days: 10, suspend_days: 20 });
    expect(policy.status).toBe(200);
    expect(policy.body).toEqual({ warn_days: 10, suspend_days: 20, effective_warn_days: 10, effective_suspend_days: 20 });
    const below = await world.caiBeAdmin.api('GET', `/org-units/${world.tree.anHuuHealthStation.id}/inactivity-policy`);
    expect(below.body).toEqual({ warn_days: null, suspend_days: null, effective_warn_days: 10, effective_suspend_days: 20 });

    const station = await personIn('tramytanhuu', world.tree.anHuuHealthStation);
    const elsewhere = await personIn('xabinhphan', world.tree.binhPhan);
    await runJobAt(11);
    expect((await mailsTo(station)).map((mail) => mail.template)).toEqual(['inactivity_warning']);
    expect(await mailsTo(elsewhere)).toEqual([]);
    await runJobAt(21);
    expect(await statusOf(station)).toBe('suspended');
    expect(await statusOf(elsewhere)).toBe('active');
  });

  it('warns by mail once for one stretch without a login, then suspends after the longer period', async () => {
    const idle = await personIn('langquen', world.tree.binhPhan);
    await runJobAt(59);
    expect(await mailsTo(idle)).toEqual([]);
    await runJobAt(61);
    await runJobAt(62);
    const mails = await mailsTo(idle);
    expect(mails.map((mail) => mail.template)).toEqual(['inactivity_warning']);
    const rendered = renderMail('inactivity_warning', mails[0]!.params, { issuer: world.server.issuer, secret: null });
    expect(rendered.text).toContain('Tài khoản langquen đã lâu không đăng nhập');
    expect(rendered.text).toContain('will be suspended');
    expect(await statusOf(idle)).toBe('active');

    await runJobAt(91);
    expect(await statusOf(idle)).toBe('suspended');
    const [suspended] = await listAuditEvents(world.server.database.db, { action: 'user.suspend', targetId: idle.id, subtrees: null, limit: 1 });
    expect(suspended).toMatchObject({ actor_type: 'system', details: { reason: 'inactivity', suspend_days: 90 } });
  });

  it('warns someone already idle past the suspension threshold first, and suspends them only after the notice', async () => {
    const longIdle = await personIn('quenlaulam', world.tree.binhPhan);
    // Idle for 200 days when the policy first sees them (an upgrade, say): past both thresholds.
    await sql`update users set created_at = now() - interval '200 days', active_since = now() - interval '200 days' where id = ${longIdle.id}`
      .execute(world.server.database.db);
    await runJobAt(0);
    expect(await statusOf(longIdle)).toBe('active');
    const [warning] = await mailsTo(longIdle);
    // The warning names the end of its notice (90 - 60 days), not a day already past.
    expect(new Date(String(warning!.params['expires_at'])).getTime()).toBeGreaterThanOrEqual(start + 30 * day);
    await runJobAt(29);
    expect(await statusOf(longIdle)).toBe('active');
    await runJobAt(31);
    expect(await statusOf(longIdle)).toBe('suspended');
  });

  it('counts a re-enabled person from the day they were enabled again, not from their last login', async () => {
    const back = await personIn('quaylai', world.tree.binhPhan);
    // Their account is old and their last sign-in long ago; an admin suspended them, and now lets them back.
    await sql`update users set created_at = now() - interval '400 days', last_login_at = now() - interval '200 days', status = 'suspended'
      where id = ${back.id}`.execute(world.server.database.db);
    expect((await world.superAdmin('POST', `/users/${back.id}/enable`)).status).toBe(200);
    await runJobAt(30);
    expect(await statusOf(back)).toBe('active');
    await runJobAt(61);
    expect((await mailsTo(back)).map((mail) => mail.template)).toEqual(['inactivity_warning']);
    await runJobAt(91);
    expect(await statusOf(back)).toBe('suspended');
  });

});
