import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';

import { adminRoles, userStatuses } from '../../src/db/schema.ts';
import { accountConsole, adminConsole } from '../../src/domain/built-in-clients.ts';
import { addPerson, caiBeAdminCredentials, grantDirectly, useProvinceServer } from '../support/admin-api.ts';
import { createUser } from '../support/server.ts';
import { formsOf, UserAgent } from '../support/user-agent.ts';
import {
  contentTypes,
  describeRequest,
  expectNoServerError,
  fuzzParameters,
  fuzzTestTimeoutMs,
  hostileHeaders,
  hostileQuery,
  hostileString,
  invalidUtf8,
  percentEncode,
  rawRequest,
  type RawRequest,
  type RawResponse,
} from './http-fuzz.ts';

/**
 * The consoles' pages and forms (the account console, the recovery pages a mailed link opens, the
 * development outbox, the admin console), called by a signed-in person, an org admin, a global
 * auditor or nobody, with the CSRF token right, wrong or missing, cookies whole, partial or forged,
 * any fields in any encoding, odd query strings and path parameters that are not ids. The answer is
 * never a 5xx, a post without the token never gets through, and the consoles still work afterwards.
 */

const world = useProvinceServer();
const password = 'mật khẩu người dùng thử 2026';
const credentials = {
  person: { login: 'nguyenthikieu', password },
  unitAdmin: caiBeAdminCredentials,
  auditor: { login: 'kiemtoantinh', password },
} as const;
type Who = keyof typeof credentials;

/** A browser signed in to both consoles (the admin console answers 403 to someone without a role), with the CSRF token of its pages. */
interface Browser {
  readonly who: Who;
  readonly agent: UserAgent;
  csrf: string;
}
const browsers: Browser[] = [];
/** Set when a run may have ended a session (a session ended, a password changed): the next run checks every browser first. */
let maybeSignedOut = false;

/**
 * Things that exist, by kind, so that fuzzed paths and fields reach past "not found". Imports,
 * people, groups and units that the fuzzing creates join them (read from the redirect after).
 */
const known: Record<string, string[]> = {
  user: [], group: [], unit: [], assignment: [], client: [accountConsole.clientId, adminConsole.clientId], import: [], factor: [], session: [], token: [],
  plan: [], step: ['1', '2'],
  decision: [], api: [],
};

async function signIn(browser: Browser): Promise<void> {
  for (const home of ['/account', '/admin']) {
    let step = await browser.agent.follow(`${world.server.issuer}${home}`, 'http://never/');
    if (step.kind === 'page' && step.html.includes('name="password"')) {
      // The fuzzing's wrong guesses at the current password (on /account/password) count against
      // signing in, and would lock the person out of the sign-in this test needs.
      await world.server.database.db.deleteFrom('login_throttle').execute();
      const [form] = formsOf(step.html, step.url);
      step = await browser.agent.follow(form!.action, 'http://never/', { form: { ...form!.fields, ...credentials[browser.who] } });
    }
    expect(step.kind === 'page' && new URL(step.url).pathname, `${browser.who} signs in to ${home}`).toBe(home);
    if (step.kind === 'page') browser.csrf = formsOf(step.html, step.url).find((form) => form.fields['_csrf'])?.fields['_csrf'] ?? browser.csrf;
  }
  // The console keeps the provider session's uid in its (signed, base64url JSON) cookie: the "end this session" form's parameter.
  const [session] = await browser.agent.jar.getCookies(`${world.server.issuer}/account`).then((cookies) => cookies.filter((cookie) => cookie.key === 'mekong.account'));
  const uid = (JSON.parse(Buffer.from(session?.value ?? 'e30', 'base64url').toString('utf8')) as { uid?: string }).uid;
  if (uid) known['session']!.push(uid);
}

async function signInAgainWhereSignedOut(): Promise<void> {
  if (!maybeSignedOut) return;
  maybeSignedOut = false;
  for (const browser of browsers) {
    const answers = await Promise.all(['/account', '/admin'].map(async (home) => (await browser.agent.request(`${world.server.issuer}${home}`)).status));
    if (answers.some((status) => status >= 300 && status < 400)) await signIn(browser);
  }
}

beforeAll(async () => {
  const { server, tree, superAdmin, caiBeAdmin } = world;
  // The person of the account console belongs to no unit: out of the org admin's reach, whatever the fuzzing posts.
  await createUser(server, { username: credentials.person.login, password, fullName: 'Nguyễn Thị Kiều', email: 'kieu@tiengiang.gov.vn' });
  const auditor = await createUser(server, { username: credentials.auditor.login, password, fullName: 'Lâm Văn Kiểm' });
  await grantDirectly(server, { userId: auditor.id }, 'auditor', null);
  const inCaiBe = await addPerson(server, { fullName: 'Võ Thị Hồng', username: 'vothihong', unit: tree.anHuu, email: 'hong@caibe.tiengiang.gov.vn', nationalId: '082190009876' });
  const pending = await addPerson(server, { fullName: 'Đinh Văn Lực', username: 'dinhvanluc', unit: tree.anHuuHealthStation, status: 'pending_activation' });
  const group = await superAdmin<{ id: string }>('POST', '/groups', { name: 'Tổ một cửa', org_unit_id: tree.caiBe.id });
  const role = await superAdmin<{ id: string }>('POST', '/role-assignments', { user_id: inCaiBe.id, role: 'helpdesk', org_unit_id: tree.anHuu.id });
  const plan = await superAdmin<{ id: string }>('POST', '/reorganization-plans', {
    name: 'Đổi tên xã', effective_date: '2026-12-01',
    steps: [{ kind: 'rename', decision_number: '1/QĐ', decision_date: '2026-11-01', unit: tree.anHuu.code, name: 'Xã An Hữu' }],
  });
  const decision = await superAdmin<{ id: string }>('POST', '/personnel-decisions', {
    kind: 'transfer', user_id: inCaiBe.id, org_unit_id: tree.anHuuHealthStation.id, decision_number: '9/QĐ-UBND', decision_date: '2026-11-20', effective_date: '2099-01-01',
  });
  expect([group.status, role.status, plan.status, decision.status]).toEqual([201, 201, 201, 201]);
  known['plan']!.push(plan.body.id);
  known['decision']!.push(decision.body.id);
  known['user']!.push(inCaiBe.id, pending.id, caiBeAdmin.user.id);
  known['group']!.push(group.body.id);
  known['assignment']!.push(role.body.id);
  known['unit']!.push(...[tree.province, tree.caiBe, tree.choGao, tree.anHuu, tree.binhPhan, tree.anHuuHealthStation].map((unit) => unit.id));
  known['client']!.push(...(await server.database.db.selectFrom('clients').select('client_id').execute()).map((row) => row.client_id));

  for (const who of ['person', 'person', 'unitAdmin', 'unitAdmin', 'auditor'] as const) {
    const browser: Browser = { who, agent: new UserAgent(), csrf: '' };
    await signIn(browser);
    browsers.push(browser);
  }
  // An activation link, as the helpdesk is shown it for a person without a mail address: a token the recovery pages take.
  const admin = browsers.find((browser) => browser.who === 'unitAdmin')!;
  const shown = await admin.agent.request(`${server.issuer}/admin/users/${pending.id}/activation`, { form: { _csrf: admin.csrf } });
  known['token']!.push(decodeURIComponent(/token=([^"&<]+)/.exec(await shown.text())?.[1] ?? ''));
  expect(known['token']![0]).not.toBe('');
});

/** A route as the browser sees it: `:kind` parameters take ids of that kind (or anything else), fields and query names are what its forms send. */
interface Route {
  readonly method: 'GET' | 'POST';
  readonly path: string;
  readonly fields?: readonly string[];
  readonly query?: readonly string[];
  readonly upload?: boolean;
}

const personFields = ['full_name', 'username', 'email', 'phone', 'employee_code', 'national_id', 'position', 'org_unit_id', 'version'];
const accountRoutes: readonly Route[] = [
  { method: 'GET', path: '/account', query: ['done'] },
  { method: 'GET', path: '/account/security', query: ['done'] },
  { method: 'GET', path: '/account/sessions', query: ['done'] },
  { method: 'GET', path: '/account/activity' },
  { method: 'GET', path: '/account/login', query: ['return_to'] },
  { method: 'GET', path: '/account/callback', query: ['state', 'code', 'error'] },
  { method: 'POST', path: '/account/email', fields: ['email'] },
  { method: 'POST', path: '/account/phone', fields: ['phone'] },
  { method: 'POST', path: '/account/phone/confirm', fields: ['code'] },
  { method: 'POST', path: '/account/phone/remove' },
  { method: 'POST', path: '/account/password', fields: ['current', 'password', 'confirm', 'end_other_sessions'] },
  { method: 'POST', path: '/account/security/totp', fields: ['name'] },
  { method: 'POST', path: '/account/security/totp/confirm', fields: ['factor_id', 'code'] },
  { method: 'POST', path: '/account/security/passkey', fields: ['name', 'response'] },
  { method: 'POST', path: '/account/security/factors/:factor/remove' },
  { method: 'POST', path: '/account/security/recovery-codes' },
  { method: 'POST', path: '/account/sessions/:session/end' },
  { method: 'POST', path: '/account/apps/:client/revoke' },
  { method: 'POST', path: '/account/logout' },
  // Reached without signing in: recovery, and the development outbox.
  { method: 'GET', path: '/account/forgot' },
  { method: 'POST', path: '/account/forgot', fields: ['login'] },
  { method: 'GET', path: '/account/reset', query: ['token'] },
  { method: 'POST', path: '/account/reset', fields: ['token', 'password', 'confirm'] },
  { method: 'GET', path: '/account/activate', query: ['token'] },
  { method: 'POST', path: '/account/activate', fields: ['token', 'password', 'confirm'] },
  { method: 'GET', path: '/account/email/confirm', query: ['token'] },
  { method: 'POST', path: '/account/email/confirm', fields: ['token'] },
  { method: 'GET', path: '/dev/outbox', query: ['done'] },
];
const adminRoutes: readonly Route[] = [
  { method: 'GET', path: '/admin', query: ['done'] },
  { method: 'GET', path: '/admin/users', query: ['q', 'status', 'unit', 'group', 'after', 'done'] },
  { method: 'GET', path: '/admin/users/new' },
  { method: 'POST', path: '/admin/users', fields: personFields },
  { method: 'GET', path: '/admin/users/:user', query: ['done'] },
  { method: 'GET', path: '/admin/users/:user/edit' },
  { method: 'GET', path: '/admin/users/:user/disable' },
  { method: 'GET', path: '/admin/users/:user/suspend' },
  { method: 'POST', path: '/admin/users/:user', fields: personFields },
  ...['suspend', 'disable', 'enable', 'unlock', 'reset-factors', 'activation'].map((verb): Route => ({ method: 'POST', path: `/admin/users/:user/${verb}` })),
  { method: 'POST', path: '/admin/users/:user/roles', fields: ['role', 'org_unit_id'] },
  { method: 'POST', path: '/admin/users/:user/roles/:assignment/revoke' },
  { method: 'GET', path: '/admin/import' },
  { method: 'POST', path: '/admin/import', upload: true },
  { method: 'GET', path: '/admin/import/:import' },
  { method: 'POST', path: '/admin/import/:import/apply' },
  { method: 'GET', path: '/admin/import/:import/report.csv' },
  { method: 'GET', path: '/admin/groups' },
  { method: 'POST', path: '/admin/groups', fields: ['org_unit_id', 'name', 'description'] },
  { method: 'GET', path: '/admin/groups/:group' },
  { method: 'POST', path: '/admin/groups/:group', fields: ['name', 'description'] },
  { method: 'POST', path: '/admin/groups/:group/delete' },
  { method: 'POST', path: '/admin/groups/:group/members', fields: ['username'] },
  { method: 'POST', path: '/admin/groups/:group/members/:user/remove' },
  { method: 'GET', path: '/admin/org-units' },
  { method: 'POST', path: '/admin/org-units', fields: ['code', 'name', 'kind', 'parent_id'] },
  { method: 'GET', path: '/admin/org-units/:unit' },
  { method: 'POST', path: '/admin/org-units/:unit', fields: ['code', 'name', 'kind', 'parent_id', 'status', 'mfa_required', 'version'] },
  { method: 'GET', path: '/admin/reorganization' },
  { method: 'GET', path: '/admin/reorganization/history', query: ['at'] },
  { method: 'POST', path: '/admin/reorganization', fields: ['name', 'effective_date'] },
  { method: 'GET', path: '/admin/reorganization/:plan' },
  { method: 'POST', path: '/admin/reorganization/:plan/steps', fields: ['kind', 'decision_number', 'decision_date', 'units', 'into', 'name', 'code', 'level_kind', 'within', 'parts', 'mapping', 'version'] },
  { method: 'POST', path: '/admin/reorganization/:plan/steps/:step/remove', fields: ['version'] },
  { method: 'POST', path: '/admin/reorganization/:plan/schedule', fields: ['confirm', 'version'] },
  { method: 'POST', path: '/admin/reorganization/:plan/cancel', fields: ['confirm', 'version'] },
  { method: 'GET', path: '/admin/reorganization/:plan/dry-run.csv' },
  { method: 'GET', path: '/admin/clients' },
  { method: 'GET', path: '/admin/clients/:client' },
  { method: 'GET', path: '/admin/clients/:client/reject' },
  { method: 'POST', path: '/admin/clients/:client/status', fields: ['status'] },
  { method: 'POST', path: '/admin/clients/:client/policy', fields: ['access_policy'] },
  { method: 'POST', path: '/admin/clients/:client/decision', fields: ['decision'] },
  { method: 'POST', path: '/admin/clients/initial-access-token', fields: ['pre_approved'] },
  { method: 'POST', path: '/admin/clients/:client/assignments', fields: ['org_unit_id', 'roles'] },
  { method: 'POST', path: '/admin/app-assignments/:assignment/remove', fields: ['client_id'] },
  { method: 'GET', path: '/admin/resource-servers', query: ['done'] },
  { method: 'GET', path: '/admin/resource-servers/:api/reject' },
  { method: 'POST', path: '/admin/resource-servers/:api/decision', fields: ['decision'] },
  { method: 'POST', path: '/admin/resource-servers/:api/status', fields: ['status'] },
  { method: 'GET', path: '/admin/decisions', query: ['done'] },
  { method: 'GET', path: '/admin/org-units/:unit/inactivity', query: ['done'] },
  { method: 'POST', path: '/admin/org-units/:unit/inactivity', fields: ['warn_days', 'suspend_days'] },
  { method: 'POST', path: '/admin/decisions/:decision/cancel' },
  { method: 'GET', path: '/admin/users/:user/decisions/new' },
  { method: 'POST', path: '/admin/users/:user/decisions', fields: ['kind', 'decision_number', 'decision_date', 'effective_date', 'org_unit_id', 'position', 'note'] },
  { method: 'GET', path: '/admin/reports' },
  { method: 'GET', path: '/admin/reports/:report', query: ['days'] },
  { method: 'GET', path: '/admin/audit', query: ['actor', 'action', 'target', 'outcome', 'from', 'to', 'before'] },
  { method: 'GET', path: '/admin/audit/export', query: ['actor', 'action', 'target', 'outcome', 'from', 'to'] },
  { method: 'GET', path: '/admin/audit/verification' },
  { method: 'GET', path: '/admin/login', query: ['return_to'] },
  { method: 'GET', path: '/admin/callback', query: ['state', 'code', 'error'] },
  { method: 'POST', path: '/admin/logout' },
];

/** A cursor as the consoles write them (base64url JSON), holding what a forger would put there. */
const cursor = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/**
 * Values the forms would take, so that runs get past validation into the handlers. A `{kind}`
 * stands for a known id of that kind, filled in when the request is sent.
 */
const meaningful: Record<string, readonly string[]> = {
  email: ['kieu.moi@tiengiang.gov.vn', 'không phải email', 'HONG@CAIBE.TIENGIANG.GOV.VN', ''],
  phone: ['0912 345 678', '+84 273 3873 123', '12345', ''],
  code: ['123456', '000 000', 'TG.CAIBE.ANHUU.FUZZ', 'TG.CAIBE', 'tg caibe'],
  current: [password, 'sai mật khẩu'],
  // A new password that would pass goes only in one of the two fields: the person's password must stay the one this test signs in with.
  password: [password, 'ngắn', 'một mật khẩu mới đủ dài 2026'],
  confirm: [password, 'ngắn'],
  end_other_sessions: ['on', 'off'],
  name: ['Điện thoại của Kiều', 'Phòng Kiểm thử', 'Tổ một cửa'],
  factor_id: ['{factor}'],
  response: ['{}', '{"id":"AAAA","rawId":"AAAA","type":"public-key","response":{"clientDataJSON":"e30","attestationObject":"oA"}}', 'not json'],
  login: [credentials.person.login, 'vothihong', 'không có ai', 'kieu@tiengiang.gov.vn'],
  token: ['{token}'],
  full_name: ['Nguyễn Văn Thử', '  ', 'Đoàn Thị Kiểm Thử'],
  username: ['vothihong', 'nguyenvanthu', credentials.person.login, 'a'],
  employee_code: ['CB-0001', ''],
  national_id: ['082190009876', '082******876', ''],
  position: ['Chuyên viên', ''],
  org_unit_id: ['{unit}', ''],
  parent_id: ['{unit}', ''],
  version: ['1', '2', '0', '-1', '99999999999999999999', '1e3', 'abc'],
  role: [...adminRoles, 'god'],
  status: [...userStatuses, 'active', 'disabled', 'closed', 'x'],
  access_policy: ['open', 'restricted', 'x'],
  roles: ['viewer', 'bác sĩ', ''],
  client_id: ['{client}'],
  kind: ['commune', 'unit', 'province', 'health_station', 'x', 'transfer', 'retirement', 'concurrent_appointment'],
  decision_number: ['12/QĐ-UBND', ''],
  decision_date: ['2026-11-20', '2026-02-30', 'hôm qua'],
  effective_date: ['2099-01-01', '2026-11-20', '2026-13-01'],
  note: ['theo đề nghị của Phòng Nội vụ', ''],
  warn_days: ['30', '0', '', '-1', '3651', '1e3', '99999999999999999999'],
  suspend_days: ['60', '0', '', '3650'],
  mfa_required: ['on', 'off', ''],
  description: ['mô tả', ''],
  q: ['hong', 'Võ Thị', 'TG.CAIBE', '%', '_'],
  unit: ['{unit}'],
  group: ['{group}'],
  after: [cursor({ key: '', id: '00000000-0000-0000-0000-000000000000' }), cursor({ key: 'a\u0000', id: '00000000-0000-0000-0000-000000000000' }), cursor({ key: 1, id: 'x' }), 'bnVsbA', '"'],
  before: [cursor('1'), cursor('0'), cursor('99999999999999999999'), cursor('9'.repeat(60)), cursor(-1), 'bnVsbA'],
  days: ['30', '0', '3650', '3651', '1e3', '-5', '99999999999999999999'],
  from: ['2026-01-01', '2026-13-45', '0000-00-00', '9999-99-99', '2026-02-30', '275760-09-13'],
  to: ['2026-12-31', '2026-00-00', '2026-02-31', '99999-01-01'],
  actor: [caiBeAdminCredentials.login, '00000000-0000-0000-0000-000000000000'],
  action: ['user.update', 'admin_console.open', 'session.end'],
  target: ['{user}', 'x'],
  outcome: ['success', 'denied', 'x'],
  done: ['password_changed', 'saved', '__proto__', 'toString', 'constructor', 'x.y'],
  return_to: ['/account/security', '/admin/users?q=a', '//evil.example', 'https://evil.example/', '/account/../admin'],
  state: ['x', ''],
  error: ['access_denied', ''],
};

const valueFor = (name: string): fc.Arbitrary<string> =>
  fc.oneof({ arbitrary: fc.constantFrom(...(meaningful[name] ?? [''])), weight: 3 }, { arbitrary: hostileString, weight: 2 });

/** A path parameter: a known id of its kind, or something that is not an id at all. */
const pathParameter = fc.oneof(
  { arbitrary: fc.constant('{known}'), weight: 6 },
  { arbitrary: hostileString.map(percentEncode), weight: 2 },
  { arbitrary: fc.constantFrom('%', '%C3%28', '%E0%A4%A', '%00', '..', '%2e%2e', 'ü', '%FF%FE', '00000000-0000-0000-0000-000000000000', '-1', '1e999', 'inactive', 'privileged.csv', 'app-access.csv', 'x.csv'), weight: 2 },
);

/** How the body goes: the form as a browser sends it, as multipart or JSON, or raw bytes that are barely a form (a `{csrf}` in them is the browser's token). */
type Encoding = 'form' | 'multipart' | 'json' | 'raw';

interface Plan {
  readonly route: Route;
  readonly who: Who | 'none';
  readonly browser: number;
  readonly parameters: readonly string[];
  readonly query: string;
  readonly cookies: 'all' | 'without-csrf' | 'without-session' | 'forged' | 'none' | 'another-browser';
  /** valid: the browser's own token; or what to send instead (null: no _csrf field). */
  readonly csrf: string | null;
  readonly fields: readonly (readonly [string, string])[];
  readonly encoding: Encoding;
  readonly rawBody: Buffer | string;
  readonly file: Buffer | string | null;
  readonly contentType: string | null;
  readonly extraHeaders: readonly [string, string][];
}

const csvFile = fc.oneof(
  fc.constantFrom(
    'employee_code,full_name,org_unit_code\r\nFZ-0001,Nguyễn Văn Thử,TG.CAIBE.ANHUU\r\nFZ-0002,Trần Thị Thử,TG.CHOGAO',
    'Mã cán bộ;Họ và tên;Mã đơn vị\nFZ-0003;Lê Văn Nhập;TG.CAIBE.ANHUU.TYT',
    '', '\uFEFF', 'employee_code\n',
  ),
  fc.array(fc.array(hostileString, { minLength: 1, maxLength: 3 }), { maxLength: 3 }).map((rows) => ['employee_code,full_name,org_unit_code', ...rows.map((cells) => cells.join(','))].join('\n')),
  invalidUtf8,
);

const planFor = (route: Route): fc.Arbitrary<Plan> => fc.record({
  route: fc.constant(route),
  who: fc.constantFrom<Plan['who']>(...(route.path.startsWith('/admin') ? ['unitAdmin', 'unitAdmin', 'unitAdmin', 'auditor', 'person', 'none'] as const : ['person', 'person', 'person', 'unitAdmin', 'none'] as const)),
  browser: fc.nat(),
  parameters: fc.array(pathParameter, { minLength: 2, maxLength: 2 }),
  query: hostileQuery(route.query ?? [], valueFor),
  cookies: fc.oneof({ arbitrary: fc.constant<Plan['cookies']>('all'), weight: 12 }, fc.constantFrom<Plan['cookies']>('without-csrf', 'without-session', 'forged', 'none', 'another-browser')),
  csrf: fc.oneof({ arbitrary: fc.constant('valid'), weight: 10 }, fc.constant(null), hostileString),
  fields: fc
    .tuple(
      fc.array(fc.constantFrom(...(route.fields ?? ['a'])).chain((name) => valueFor(name).map((value) => [name, value] as const)), { maxLength: (route.fields?.length ?? 0) + 2 }),
      fc.oneof(
        { arbitrary: fc.constant([]), weight: 4 },
        // Repeated or bracketed keys (an array or an object where text is expected), prototype keys, the token twice.
        fc.array(fc.tuple(fc.constantFrom('_csrf', '__proto__', 'constructor', `${route.fields?.[0] ?? 'a'}[]`, `${route.fields?.[0] ?? 'a'}[x]`, route.fields?.[0] ?? 'a'), hostileString), { minLength: 1, maxLength: 2 }),
      ),
    )
    .map(([known, extra]) => [...known, ...extra]),
  encoding: fc.oneof({ arbitrary: fc.constant<Encoding>(route.upload ? 'multipart' : 'form'), weight: 10 }, fc.constantFrom<Encoding>('form', 'multipart', 'json', 'raw')),
  rawBody: fc.oneof(
    invalidUtf8.map((bytes) => Buffer.concat([Buffer.from(`_csrf={csrf}&${route.fields?.[0] ?? 'a'}=`), bytes])),
    hostileString,
    fc.constantFrom(
      `_csrf={csrf}&${route.fields?.[0] ?? 'a'}=%E0%A4%A`, `_csrf={csrf}&${route.fields?.[0] ?? 'a'}=%00`, `_csrf={csrf}&${route.fields?.[0] ?? 'a'}=${'a'.repeat(20_000)}`,
      '_csrf={csrf}&_csrf={csrf}', `_csrf[]={csrf}`, `_csrf={csrf}&${route.fields?.[0] ?? 'a'}[x][y]=1&__proto__[polluted]=1`, '%%%', '_csrf={csrf}&' + 'a=1&'.repeat(2000),
    ),
  ),
  file: route.upload ? fc.option(csvFile, { freq: 6, nil: null }) : fc.constant(null),
  contentType: fc.oneof({ arbitrary: fc.constant(null), weight: 10 }, fc.constantFrom(...contentTypes)),
  extraHeaders: hostileHeaders,
});

/** `{kind}` (also percent-encoded) as the `pick`th known thing of that kind; `{known}` in a path as the kind its parameter names. */
function fillIn(text: string, pick: number, browser: Browser | undefined): string {
  return text.replace(/\{(\w+)\}|%7B(\w+)%7D/g, (whole, plain?: string, encoded?: string) => {
    const kind = plain ?? encoded ?? '';
    if (kind === 'csrf') return browser?.csrf ?? '';
    const ids = known[kind];
    if (!ids) return whole;
    return ids.length > 0 ? ids[pick % ids.length]! : '00000000-0000-0000-0000-000000000000';
  });
}

function multipart(fields: readonly (readonly [string, string])[], file: Buffer | string | null): { body: Buffer; contentType: string } {
  const boundary = 'mekong-fuzz-boundary';
  const parts = fields.map(([name, value]) => Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`));
  if (file !== null) {
    parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="nhan-su.csv"\r\nContent-Type: text/csv\r\n\r\n`), Buffer.from(file), Buffer.from('\r\n'));
  }
  return { body: Buffer.concat([...parts, Buffer.from(`--${boundary}--\r\n`)]), contentType: `multipart/form-data; boundary=${boundary}` };
}

async function requestFor(plan: Plan): Promise<RawRequest> {
  const own = browsers.filter((browser) => browser.who === plan.who);
  const browser = own.length > 0 ? own[plan.browser % own.length] : undefined;
  const kinds = [...plan.route.path.matchAll(/:(\w+)/g)].map((match) => match[1]!);
  let path = plan.route.path;
  kinds.forEach((kind, index) => {
    path = path.replace(`:${kind}`, fillIn((plan.parameters[index] ?? '').replace('{known}', kind === 'report' ? '{report}' : `{${kind}}`), plan.browser + index, browser));
  });
  path = path.replace('{report}', ['inactive', 'privileged.csv', 'without-second-factor', 'app-access.csv', 'without-unit.csv'][plan.browser % 5]!);
  const target = `${path}${plan.query ? `?${fillIn(plan.query, plan.browser, browser)}` : ''}`;

  const other = browsers[(plan.browser + 1) % browsers.length]!;
  const url = `${world.server.issuer}${plan.route.path}`;
  let parts = browser ? (await browser.agent.jar.getCookieString(url)).split('; ').filter(Boolean) : [];
  if (plan.cookies === 'without-csrf') parts = parts.filter((part) => !part.startsWith('mekong.csrf'));
  if (plan.cookies === 'without-session') parts = parts.filter((part) => part.startsWith('mekong.csrf'));
  if (plan.cookies === 'forged') parts = parts.map((part) => part.replace(/=(.)/, (_whole, first: string) => `=${first === 'A' ? 'B' : 'A'}`));
  if (plan.cookies === 'another-browser') parts = (await other.agent.jar.getCookieString(url)).split('; ');
  if (plan.cookies === 'none') parts = [];

  const fields = [
    ...(plan.csrf === null ? [] : [['_csrf', plan.csrf === 'valid' ? browser?.csrf ?? '' : plan.csrf] as const]),
    ...plan.fields.map(([name, value]) => [name, fillIn(value, plan.browser, browser)] as const),
  ];
  const headers: [string, string][] = [];
  if (parts.length > 0) headers.push(['Cookie', parts.join('; ')]);
  let body: Buffer | string | undefined;
  let contentType: string | undefined;
  if (plan.encoding === 'form') {
    body = fields.map(([name, value]) => `${percentEncode(name)}=${percentEncode(value)}`).join('&');
    contentType = 'application/x-www-form-urlencoded';
  } else if (plan.encoding === 'multipart') {
    ({ body, contentType } = multipart(fields, plan.file));
  } else if (plan.encoding === 'json') {
    body = JSON.stringify(Object.fromEntries(fields));
    contentType = 'application/json';
  } else {
    body = typeof plan.rawBody === 'string' ? fillIn(plan.rawBody, 0, browser) : plan.rawBody;
    contentType = 'application/x-www-form-urlencoded';
  }
  if (plan.route.method === 'GET') body = undefined;
  if (body !== undefined) headers.push(['Content-Type', plan.contentType ?? contentType ?? '']);
  headers.push(...plan.extraHeaders);
  return { method: plan.route.method, target, headers, body };
}

/** A post whose token could not have matched: none sent, another one, no cookie to match it, or a body the form parser does not read. */
function withoutToken(plan: Plan): boolean {
  const tokenSent = plan.encoding === 'raw'
    ? typeof plan.rawBody === 'string' && plan.rawBody.includes('{csrf}') || Buffer.isBuffer(plan.rawBody)
    : plan.csrf === 'valid' && (plan.encoding === 'form' || (plan.encoding === 'multipart' && plan.route.upload === true));
  const cookieSent = plan.who !== 'none' && ['all', 'without-session', 'another-browser'].includes(plan.cookies);
  return plan.route.method === 'POST' && !(tokenSent && cookieSent);
}

/** What a successful post created or started joins the known things (an import run, a person, a TOTP enrolment), and what may have signed someone out. */
function remember(plan: Plan, response: RawResponse): void {
  const created = /^\/admin\/(users|groups|org-units|import)\/([0-9a-f-]{36})(?:\?|$)/.exec(response.headers['location'] ?? '');
  if (response.status === 303 && created) {
    const kind = { users: 'user', groups: 'group', 'org-units': 'unit', import: 'import' }[created[1]!]!;
    if (!known[kind]!.includes(created[2]!)) known[kind]!.push(created[2]!);
  }
  const enrolment = /name="factor_id" value="([^"]+)"/.exec(response.text)?.[1];
  if (enrolment) known['factor']!.push(enrolment);
  if (response.status === 303 && /\/(end|password|logout)$/.test(plan.route.path)) maybeSignedOut = true;
}

const property = (routes: readonly Route[]) => fc.asyncProperty(fc.constantFrom(...routes).chain(planFor), async (plan) => {
  await signInAgainWhereSignedOut();
  const request = await requestFor(plan);
  const response = await rawRequest(world.server.issuer, request);
  expectNoServerError(response, request);
  remember(plan, response);
  if (withoutToken(plan)) expect(response.status, `${describeRequest(request)}\n→ ${response.status}`).not.toBe(303);
});

describe('the consoles under fuzzed requests', () => {
  it('answer every account console, recovery and outbox route, signed in or not, with or without a valid CSRF token, without a 5xx', async () => {
    await fc.assert(property(accountRoutes), fuzzParameters(400, 15_000));
  }, fuzzTestTimeoutMs);

  it('answer every admin console route, as an org admin, a global auditor, someone without a role or nobody, without a 5xx', async () => {
    await fc.assert(property(adminRoutes), fuzzParameters(500, 15_000));
  }, fuzzTestTimeoutMs);

  /** Found by the property above: a day off the calendar in the audit filters became an Invalid Date in the query, a 500. */
  it('read a day off the calendar in the audit filters as no filter, not a server error', async () => {
    const auditor = browsers.find((browser) => browser.who === 'auditor')!;
    for (const path of ['/admin/audit', '/admin/audit/export']) {
      const response = await auditor.agent.request(`${world.server.issuer}${path}?from=9999-99-99&to=2026-02-30`);
      expect([path, response.status]).toEqual([path, 200]);
    }
  });

  /** Found by the property above: an audit cursor holding a number past bigint's range reached the query, a 500, in the console and the API alike. */
  it('refuse an audit cursor past the range of an event id as a bad cursor, in the console and the API', async () => {
    const auditor = browsers.find((browser) => browser.who === 'auditor')!;
    const page = await auditor.agent.request(`${world.server.issuer}/admin/audit?before=${cursor('9'.repeat(20))}`);
    expect(page.status).toBe(400);
    const api = await world.superAdmin('GET', `/audit-events?cursor=${cursor('9'.repeat(20))}`);
    expect([api.status, (api.body as { error?: string }).error]).toEqual([400, 'invalid_cursor']);
  });

  /** Found by the property above: a forged page cursor whose sort key held a NUL reached PostgreSQL, a 500, in the console and the API alike. */
  it('refuse a user list cursor whose sort key holds a NUL as a bad cursor, in the console and the API', async () => {
    const forged = cursor({ key: 'a\u0000', id: '00000000-0000-0000-0000-000000000000' });
    const admin = browsers.find((browser) => browser.who === 'unitAdmin')!;
    expect((await admin.agent.request(`${world.server.issuer}/admin/users?after=${forged}`)).status).toBe(400);
    const api = await world.superAdmin('GET', `/users?cursor=${forged}`);
    expect([api.status, (api.body as { error?: string }).error]).toEqual([400, 'invalid_cursor']);
  });

  /** Found by the property above: a NUL in a path parameter (or the query) reached PostgreSQL, which cannot store one, a 500. */
  it('refuse a NUL character in a console path or query as bad input', async () => {
    const [person, admin] = [browsers.find((browser) => browser.who === 'person')!, browsers.find((browser) => browser.who === 'unitAdmin')!];
    const revoke = await person.agent.request(`${world.server.issuer}/account/apps/%00/revoke`, { form: { _csrf: person.csrf } });
    const remove = await admin.agent.request(`${world.server.issuer}/admin/app-assignments/a%00/remove`, { form: { _csrf: admin.csrf } });
    const search = await admin.agent.request(`${world.server.issuer}/admin/users?q=a%00`);
    expect([revoke.status, remove.status, search.status]).toEqual([400, 400, 400]);
  });

  it('still sign an administrator and a person in afterwards, and serve their pages', async () => {
    for (const [who, page] of [['unitAdmin', '/admin/users'], ['person', '/account/security']] as const) {
      const browser: Browser = { who, agent: new UserAgent(), csrf: '' };
      await signIn(browser);
      expect((await browser.agent.request(`${world.server.issuer}${page}`)).status).toBe(200);
    }
    expect((await rawRequest(world.server.issuer, { method: 'GET', target: '/readyz' })).status).toBe(200);
  });
});
