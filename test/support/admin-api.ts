import * as oidc from 'openid-client';
import { afterAll, beforeAll, expect } from 'vitest';

import { insertOrgUnit } from '../../src/db/queries/org-units.ts';
import { insertRoleAssignment } from '../../src/db/queries/role-assignments.ts';
import { insertUser } from '../../src/db/queries/users.ts';
import type { AdminRole, OrgUnit, OrgUnitKind, User, UserStatus } from '../../src/db/schema.ts';
import { authorizationRequest, discoverRelyingParty } from './relying-party.ts';
import type { TestServer } from './server.ts';
import { createUser, registerTestClient, startTestServer } from './server.ts';
import { signInAt, UserAgent } from './user-agent.ts';

export interface ApiResponse<T = Record<string, unknown>> {
  status: number;
  headers: Headers;
  body: T;
}

export type ApiCall = <T = Record<string, unknown>>(
  method: string,
  path: string,
  body?: unknown,
  headers?: Record<string, string>,
) => Promise<ApiResponse<T>>;

/** The admin API's resource indicator on a test server. */
export const apiResource = (server: TestServer) => `${server.issuer}/api/v1`;

/** Calls /api/v1 with a bearer token, JSON in (or text, under a text/* content type) and out. */
export function apiClient(server: TestServer, token: string): ApiCall {
  return async (method, path, body, headers = {}) => {
    const response = await fetch(`${server.issuer}/api/v1${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      // Text sent as text (a CSV upload, with its own content type); anything else as JSON.
      ...(body === undefined ? {} : { body: typeof body === 'string' && headers['content-type']?.startsWith('text/') ? body : JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, headers: response.headers, body: (text && response.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text) as never };
  };
}

/** A client_credentials access token for the admin API, from the server's real token endpoint. */
export async function serviceToken(server: TestServer, clientId: string, clientSecret: string): Promise<string> {
  const response = await fetch(`${server.issuer}/token`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64')}`,
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', resource: apiResource(server), scope: 'api' }),
  });
  const json = (await response.json()) as { access_token?: string; error?: string; error_description?: string };
  if (!json.access_token) throw new Error(`no token: ${json.error ?? ''} ${json.error_description ?? ''}`);
  return json.access_token;
}

/** Grants a role straight through the queries, as `mekong-id admin create` or a seed would. */
export async function grantDirectly(
  server: TestServer,
  holder: { userId: string } | { clientId: string },
  role: AdminRole,
  unit: OrgUnit | null,
): Promise<void> {
  await insertRoleAssignment(server.database.db, holder, { role, orgUnitId: unit?.id ?? null, grantedBy: 'system' });
}

/** A service client holding `role` globally (unit null) or over a unit's subtree, and an API caller acting as it. */
export async function serviceCaller(
  server: TestServer,
  role: AdminRole,
  unit: OrgUnit | null,
  name = `${role} automation`,
): Promise<{ clientId: string; token: string; api: ApiCall }> {
  const registered = await registerTestClient(server, { name, kind: 'service' });
  await grantDirectly(server, { clientId: registered.clientId }, role, unit);
  const token = await serviceToken(server, registered.clientId, registered.clientSecret!);
  return { clientId: registered.clientId, token, api: apiClient(server, token) };
}

/** Adds a unit straight through the queries (tests build their trees this way). */
export function addUnit(server: TestServer, code: string, name: string, kind: OrgUnitKind, parent: OrgUnit | null): Promise<OrgUnit> {
  return insertOrgUnit(server.database.db, { code, name, kind, parent });
}

/** The part of Tiền Giang the admin API tests work in, as it stood before the 2025 reform. */
export interface ProvinceTree {
  /** TG, the province. */
  readonly province: OrgUnit;
  /** TG.CAIBE, a district. */
  readonly caiBe: OrgUnit;
  /** TG.CHOGAO, the other district. */
  readonly choGao: OrgUnit;
  /** TG.CAIBE.ANHUU, a commune of Cái Bè. */
  readonly anHuu: OrgUnit;
  /** TG.CHOGAO.BINHPHAN, a commune of Chợ Gạo. */
  readonly binhPhan: OrgUnit;
  /** TG.CAIBE.ANHUU.TYT, the commune's health station. */
  readonly anHuuHealthStation: OrgUnit;
}

export async function buildProvinceTree(server: TestServer): Promise<ProvinceTree> {
  const province = await addUnit(server, 'TG', 'Ủy ban nhân dân tỉnh Tiền Giang', 'province', null);
  const caiBe = await addUnit(server, 'TG.CAIBE', 'Ủy ban nhân dân huyện Cái Bè', 'district', province);
  const choGao = await addUnit(server, 'TG.CHOGAO', 'Ủy ban nhân dân huyện Chợ Gạo', 'district', province);
  const anHuu = await addUnit(server, 'TG.CAIBE.ANHUU', 'Ủy ban nhân dân xã An Hữu', 'commune', caiBe);
  const binhPhan = await addUnit(server, 'TG.CHOGAO.BINHPHAN', 'Ủy ban nhân dân xã Bình Phan', 'commune', choGao);
  const anHuuHealthStation = await addUnit(server, 'TG.CAIBE.ANHUU.TYT', 'Trạm Y tế xã An Hữu', 'health_station', anHuu);
  return { province, caiBe, choGao, anHuu, binhPhan, anHuuHealthStation };
}

export interface ProvinceWorld {
  readonly server: TestServer;
  readonly tree: ProvinceTree;
  /** A global super administrator (a service client), to set things up and to read the audit log. */
  readonly superAdmin: ApiCall;
  /**
   * Phạm Quốc Bảo, org admin of Cái Bè, a person signed in through the admin console. Their own
   * account belongs to the province (TG), out of Cái Bè's reach and out of its lists.
   */
  readonly caiBeAdmin: UserCaller;
}

export const caiBeAdminCredentials = { login: 'phamquocbao', password: 'quản trị huyện Cái Bè 2026' } as const;

/**
 * For a test file: a fresh server with the province tree and its two administrators, started before
 * the file's own hooks run and stopped after its tests. The fields are there from the file's
 * beforeAll hooks on.
 */
export function useProvinceServer(): ProvinceWorld {
  const world: { -readonly [K in keyof ProvinceWorld]?: ProvinceWorld[K] } = {};
  beforeAll(async () => {
    const server = await startTestServer();
    world.server = server;
    world.tree = await buildProvinceTree(server);
    world.superAdmin = (await serviceCaller(server, 'super_admin', null, 'Sở Thông tin và Truyền thông')).api;
    world.caiBeAdmin = await userCaller(server, {
      username: caiBeAdminCredentials.login, password: caiBeAdminCredentials.password, fullName: 'Phạm Quốc Bảo',
      role: 'org_admin', unit: world.tree.caiBe, homeUnit: world.tree.province,
    });
  });
  afterAll(async () => {
    await world.server?.stop();
  });
  return world as ProvinceWorld;
}

export interface PersonFixture {
  fullName: string;
  username: string;
  unit: OrgUnit | null;
  email?: string;
  nationalId?: string;
  employeeCode?: string;
  status?: UserStatus;
}

/** A person on the staff list (no password: they have not activated their account), inserted straight through the queries. */
export function addPerson(server: TestServer, person: PersonFixture): Promise<User> {
  return insertUser(server.database.db, {
    username: person.username,
    full_name: person.fullName.normalize('NFC'),
    email: person.email ?? null,
    phone: null,
    employee_code: person.employeeCode ?? null,
    national_id: person.nationalId ?? null,
    position: null,
    primary_org_unit_id: person.unit?.id ?? null,
    password_hash: null,
    status: person.status ?? 'active',
  });
}

/**
 * Signs a person in through the real pages, as a browser would: authorize with PKCE and a state,
 * the login form, consent when the app is not first-party. Returns the callback URL and what the
 * app kept, for the token request (or for reading an error the provider sent back).
 */
export async function signInThroughPages(
  relyingParty: oidc.Configuration,
  redirectUri: string,
  credentials: { login: string; password: string },
  params: Record<string, string> = {},
): Promise<{ callback: URL; verifier: string; state: string; agent: UserAgent }> {
  const agent = new UserAgent();
  const state = oidc.randomState();
  const { url, verifier } = await authorizationRequest(relyingParty, redirectUri, { state, ...params });
  const step = await signInAt(agent, url.href, redirectUri, credentials);
  if (step.kind !== 'redirect') throw new Error(`the sign-in stopped on ${step.url} (HTTP ${step.response.status})`);
  return { callback: new URL(step.url), verifier, state, agent };
}

/** Redeems a callback's code; `tokenParams` go to the token endpoint (a resource indicator, say). */
export function redeemCode(
  relyingParty: oidc.Configuration,
  signIn: { callback: URL; verifier: string; state: string },
  tokenParams: Record<string, string> = {},
) {
  return oidc.authorizationCodeGrant(relyingParty, signIn.callback, { pkceCodeVerifier: signIn.verifier, expectedState: signIn.state }, tokenParams);
}

export const adminConsoleRedirectUri = 'http://localhost:8090/admin/callback';
const adminConsoles = new WeakMap<TestServer, Promise<oidc.Configuration>>();

/**
 * The admin console as an OIDC client: a first-party web app that may obtain tokens for the API
 * (a flag only an operator sets, here straight in the clients table). One per server.
 */
export function adminConsole(server: TestServer): Promise<oidc.Configuration> {
  let registration = adminConsoles.get(server);
  if (!registration) {
    registration = (async () => {
      const registered = await registerTestClient(server, { name: 'Bảng điều khiển quản trị Mekong ID', redirectUris: [adminConsoleRedirectUri], firstParty: true });
      await server.database.db.updateTable('clients').set({ admin_api_access: true }).where('client_id', '=', registered.clientId).execute();
      return discoverRelyingParty(server.issuer, registered.clientId, registered.clientSecret);
    })();
    adminConsoles.set(server, registration);
  }
  return registration;
}

export interface UserCaller {
  readonly user: User;
  readonly api: ApiCall;
  /** The JWT access token for the API, from the code flow. */
  readonly accessToken: string;
  /** The ID token of the same sign-in: same signer, audience the console. */
  readonly idToken: string;
}

/**
 * A person who administers through the admin console: a password, a role assignment (none when
 * `role` is null) over `unit` (null: globally), and a real authorization-code + PKCE sign-in that
 * asks for the API resource and the `api` scope, at /auth and again at /token.
 */
export async function userCaller(
  server: TestServer,
  person: { username: string; password: string; fullName?: string; role: AdminRole | null; unit: OrgUnit | null; homeUnit?: OrgUnit | null },
): Promise<UserCaller> {
  const created = await createUser(server, { username: person.username, password: person.password, ...(person.fullName ? { fullName: person.fullName } : {}) });
  const homeUnit = person.homeUnit === undefined ? person.unit : person.homeUnit;
  await server.database.db.updateTable('users').set({ primary_org_unit_id: homeUnit?.id ?? null }).where('id', '=', created.id).execute();
  if (person.role) await grantDirectly(server, { userId: created.id }, person.role, person.unit);

  const consoleClient = await adminConsole(server);
  const resource = apiResource(server);
  const signIn = await signInThroughPages(consoleClient, adminConsoleRedirectUri, { login: person.username, password: person.password }, { scope: 'openid api', resource });
  const tokens = await redeemCode(consoleClient, signIn, { resource });
  const user = await server.database.db.selectFrom('users').selectAll().where('id', '=', created.id).executeTakeFirstOrThrow();
  return { user, api: apiClient(server, tokens.access_token), accessToken: tokens.access_token, idToken: tokens.id_token! };
}

/** An error as the API promises them: the status, a stable code, a message, and the request id of the response. */
export function expectApiError(response: ApiResponse<unknown>, status: number, error: string, messageContains = ''): void {
  expect(response.status, JSON.stringify(response.body)).toBe(status);
  const body = response.body as { error?: unknown; message?: unknown; request_id?: unknown };
  expect(body.error).toBe(error);
  expect(typeof body.message === 'string' ? body.message : null).toContain(messageContains);
  expect(body.request_id).toBe(response.headers.get('x-request-id'));
}

/**
 * Checks a refusal the way an operator would: the caller got 403, and the audit log, read by a
 * global auditor, holds a denied event for that very request (matched by its request id).
 */
export async function expectAuditedRefusal(auditor: ApiCall, response: ApiResponse<unknown>, action: string): Promise<void> {
  expectApiError(response, 403, 'forbidden');
  const requestId = response.headers.get('x-request-id');
  expect(requestId).toBeTruthy();
  const events = await auditor<{ items: { action: string; outcome: string; request_id: string | null }[] }>(
    'GET', `/audit-events?outcome=denied&action=${encodeURIComponent(action)}&limit=200`,
  );
  expect(events.status).toBe(200);
  expect(events.body.items.filter((event) => event.request_id === requestId)).toEqual([
    expect.objectContaining({ action, outcome: 'denied', request_id: requestId }),
  ]);
}

