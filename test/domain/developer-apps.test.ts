import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { findClient, findPreviousClientSecretHash, insertClientOwner } from '../../src/db/queries/clients.ts';
import { insertRoleAssignment, scopedAssignmentsOf } from '../../src/db/queries/role-assignments.ts';
import { insertUser } from '../../src/db/queries/users.ts';
import type { AdminRole } from '../../src/db/schema.ts';
import { noOrigin } from '../../src/domain/audit.ts';
import type { AdminContext } from '../../src/domain/authorization.ts';
import { clientSecretMatches } from '../../src/domain/client-secrets.ts';
import { changeClientStatus, checkRegistration, lintClientMetadata, registerClient, type ClientDeps } from '../../src/domain/clients.ts';
import { appInCare, decideOnApp, registerDeveloperApp, rotateClientSecret } from '../../src/domain/developer-apps.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';

let database: TestDatabase;
let deps: ClientDeps;

beforeAll(async () => {
  database = await createTestDatabase();
  deps = { db: database.db, validateMetadata: () => Promise.resolve() };
});

afterAll(async () => {
  await database.close();
});

/** A person holding `role` globally, as the admin console would see them. */
async function personWith(username: string, role: AdminRole | null): Promise<AdminContext> {
  const user = await insertUser(database.db, { username, full_name: username, email: null, phone: null, password_hash: null, status: 'active' });
  if (role) await insertRoleAssignment(database.db, { userId: user.id }, { role, orgUnitId: null, grantedBy: 'system' });
  const holder = { userId: user.id };
  return { principal: { actor: { type: 'user', id: user.id, name: username }, holder, assignments: await scopedAssignmentsOf(database.db, holder) }, origin: noOrigin };
}

const webApp = { name: 'Cổng dịch vụ công', kind: 'web' as const, redirectUris: ['https://dichvucong.tiengiang.gov.vn/cb'] };

describe('the redirect URI lint, as catalog entries the portal translates', () => {
  const entryOf = (issue: unknown) => (issue as { params?: { localized?: unknown } }).params?.localized;

  it('names each problem by its stable code\u2019s entry, with the URI at fault', () => {
    const checked = checkRegistration({ ...webApp, redirectUris: ['http://a.example/cb', 'https://*.example/cb', 'https://a.example/cb#x', 'cb'] });
    expect(checked.success).toBe(false);
    expect(checked.error?.issues.map(entryOf)).toEqual([
      { key: 'developers.problem.https_required', params: { uri: 'http://a.example/cb' } },
      { key: 'developers.problem.wildcard', params: { uri: 'https://*.example/cb' } },
      { key: 'developers.problem.fragment', params: { uri: 'https://a.example/cb#x' } },
      { key: 'developers.problem.not_absolute', params: { uri: 'cb' } },
    ]);
    // The API and the CLI read the English.
    expect(checked.error?.issues[0]?.message).toBe('"http://a.example/cb" must use https (http is allowed only for localhost)');
  });

  it('applies the same lint to metadata registered at /reg', () => {
    expect(lintClientMetadata({ redirect_uris: ['https://a.example/cb'], backchannel_logout_uri: 'http://a.example/logout' }))
      .toEqual([{ field: 'backchannel_logout_uri', message: '"http://a.example/logout" must use https (http is allowed only for localhost)' }]);
    expect(lintClientMetadata({ application_type: 'native', token_endpoint_auth_method: 'none', redirect_uris: ['vn.gov.tiengiang.app:/cb'] })).toEqual([]);
  });

  it('limits grant types to the kind\u2019s own and keeps the chosen scopes', async () => {
    expect(checkRegistration({ ...webApp, grantTypes: ['client_credentials'] }).error?.issues.map((issue) => (entryOf(issue) as { key: string }).key))
      .toEqual(['developers.problem.grant_type_not_allowed', 'developers.problem.grant_type_missing']);
    const registered = await registerClient(deps, { ...webApp, grantTypes: ['authorization_code'], scopes: ['openid', 'profile'], logoUri: 'https://dichvucong.tiengiang.gov.vn/logo.png' });
    expect(registered.metadata).toMatchObject({ grant_types: ['authorization_code'], scope: 'openid profile', logo_uri: 'https://dichvucong.tiengiang.gov.vn/logo.png' });
  });
});

describe('developer apps', () => {
  it('registers an app pending, owned by the developer; someone without the role is refused', async () => {
    const developer = await personWith('dev.one', 'developer');
    const registered = await registerDeveloperApp(deps, developer, webApp);
    expect(await findClient(database.db, registered.clientId)).toMatchObject({ status: 'pending', first_party: false });
    await expect(appInCare(database.db, developer, registered.clientId, 'client.read')).resolves.toBeTruthy();
    await expect(registerDeveloperApp(deps, await personWith('not.dev', null), webApp)).rejects.toMatchObject({ status: 403 });
    await expect(appInCare(database.db, await personWith('dev.two', 'developer'), registered.clientId, 'client.read'))
      .rejects.toThrow('belongs to other developers');
  });

  it('lets only a global administrator approve, never their own app, and never twice', async () => {
    const admin = await personWith('admin.one', 'super_admin');
    const developer = await personWith('dev.three', 'developer');
    const { clientId } = await registerDeveloperApp(deps, developer, webApp);
    await expect(decideOnApp(database.db, developer, clientId, 'approve')).rejects.toMatchObject({ status: 403 });
    await insertClientOwner(database.db, { client_id: clientId, user_id: 'userId' in admin.principal.holder ? admin.principal.holder.userId : '', added_by: 'test' });
    await expect(decideOnApp(database.db, admin, clientId, 'approve')).rejects.toThrow('registered this app yourself');
    const other = await personWith('admin.two', 'super_admin');
    // The status switch is no way around the queue.
    await expect(changeClientStatus(database.db, other, clientId, 'active')).rejects.toMatchObject({ status: 409 });
    await decideOnApp(database.db, other, clientId, 'approve');
    expect((await findClient(database.db, clientId))?.status).toBe('active');
    await expect(decideOnApp(database.db, other, clientId, 'reject')).rejects.toMatchObject({ status: 409 });
  });

  it('keeps the previous secret for the overlap only, one previous secret at a time', async () => {
    const developer = await personWith('dev.four', 'developer');
    const { clientId, clientSecret: first } = await registerDeveloperApp(deps, developer, webApp);
    await decideOnApp(database.db, await personWith('admin.three', 'super_admin'), clientId, 'approve');
    const second = await rotateClientSecret(database.db, developer, clientId, 3600);
    expect(second.previousSecretExpiresAt!.getTime()).toBeGreaterThan(Date.now() + 3500_000);
    expect(clientSecretMatches((await findPreviousClientSecretHash(database.db, clientId))!, first!)).toBe(true);
    const third = await rotateClientSecret(database.db, developer, clientId, 3600);
    const previous = (await findPreviousClientSecretHash(database.db, clientId))!;
    expect(clientSecretMatches(previous, second.clientSecret)).toBe(true);
    expect(clientSecretMatches(previous, first!)).toBe(false);
    expect(clientSecretMatches((await findClient(database.db, clientId))!.client_secret_hash!, third.clientSecret)).toBe(true);
    await rotateClientSecret(database.db, developer, clientId, 0);
    expect(await findPreviousClientSecretHash(database.db, clientId)).toBeUndefined();
    await expect(rotateClientSecret(database.db, developer, clientId, 31 * 24 * 3600)).rejects.toMatchObject({ status: 400 });
  });

  it('refuses to rotate the secret of a public app, which has none', async () => {
    const developer = await personWith('dev.five', 'developer');
    const { clientId } = await registerDeveloperApp(deps, developer, { ...webApp, kind: 'spa' });
    await expect(rotateClientSecret(database.db, developer, clientId, 0)).rejects.toMatchObject({ status: 409 });
  });
});
