import * as OTPAuth from 'otpauth';
import { describe, expect, it } from 'vitest';

import { findFactor } from '../../../src/db/queries/second-factors.ts';
import { countUnusedRecoveryCodes, findConfirmedFactors, issueRecoveryCodes, startTotpEnrolment, verifyTotpCode } from '../../../src/domain/second-factors.ts';
import { addPerson, expectApiError, expectAuditedRefusal, serviceCaller, useProvinceServer } from '../../support/admin-api.ts';

const site = useProvinceServer();

let sequence = 0;
async function personWithFactors(unit = site.tree.anHuu, email?: string) {
  sequence += 1;
  const person = await addPerson(site.server, { fullName: `Lâm Mất Điện Thoại ${sequence}`, username: `matdienthoai${sequence}`, unit, ...(email ? { email } : {}) });
  const deps = { db: site.server.database.db, masterKey: site.server.config.masterKey };
  const enrolment = await startTotpEnrolment(deps, person, 'Điện thoại cũ');
  const code = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(enrolment.manualKey.replace(/ /g, '')) }).generate();
  expect(await verifyTotpCode(deps, (await findFactor(deps.db, person.id, enrolment.factorId))!, code)).toBe(true);
  await issueRecoveryCodes(deps.db, person.id);
  return person;
}

describe('POST /users/{id}/reset-factors', () => {
  it('lets a helpdesk admin of the unit remove every factor and recovery code, audited, and tells the person by mail', async () => {
    const person = await personWithFactors(site.tree.anHuu, 'lam.matdienthoai@tiengiang.gov.vn');
    const helpdesk = await serviceCaller(site.server, 'helpdesk', site.tree.caiBe);
    const response = await helpdesk.api<{ removed_factors: number }>('POST', `/users/${person.id}/reset-factors`);
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ removed_factors: 1 });
    const db = site.server.database.db;
    expect(await findConfirmedFactors(db, person.id)).toEqual([]);
    expect(await countUnusedRecoveryCodes(db, person.id)).toBe(0);
    const mail = await db.selectFrom('mail_outbox').selectAll().where('recipient', '=', 'lam.matdienthoai@tiengiang.gov.vn').execute();
    expect(mail.map((row) => row.template)).toEqual(['factors_reset']);
    const events = await site.superAdmin<{ items: { actor: { id: string | null }; before: Record<string, unknown> | null; details: Record<string, unknown> | null }[] }>(
      'GET', `/audit-events?action=mfa.reset&target_id=${person.id}`,
    );
    expect(events.body.items).toHaveLength(1);
    expect(events.body.items[0]).toMatchObject({ actor: { type: 'client', id: helpdesk.clientId }, details: { notified: true }, before: { factors: [{ kind: 'totp', name: 'Điện thoại cũ' }] } });
  });

  it('is refused, and the refusal audited, for a person in another unit', async () => {
    const person = await personWithFactors(site.tree.binhPhan);
    const helpdesk = await serviceCaller(site.server, 'helpdesk', site.tree.caiBe);
    await expectAuditedRefusal(site.superAdmin, await helpdesk.api('POST', `/users/${person.id}/reset-factors`), 'mfa.reset');
    expect(await findConfirmedFactors(site.server.database.db, person.id)).toHaveLength(1);
  });

  it('is refused to an auditor, who only reads', async () => {
    const person = await personWithFactors();
    const auditor = await serviceCaller(site.server, 'auditor', null);
    expectApiError(await auditor.api('POST', `/users/${person.id}/reset-factors`), 403, 'forbidden');
  });

  it('answers 404 for someone who does not exist', async () => {
    expectApiError(await site.superAdmin('POST', '/users/6f1c1b8e-2f7e-4a7e-9d2a-5d6c1f0e9b11/reset-factors'), 404, 'not_found');
  });
});
