import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { apiClient, buildProvinceTree, serviceCaller } from '../support/admin-api.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import {
  contentTypes,
  expectApiErrorShape,
  expectNoServerError,
  fuzzParameters,
  fuzzTestTimeoutMs,
  hostileHeaders,
  hostileJson,
  hostileQuery,
  hostileString,
  invalidUtf8,
  percentEncode,
  rawRequest,
  type RawRequest,
  type RawResponse,
} from './http-fuzz.ts';

/**
 * Every admin API route, read from the OpenAPI document (so a new route is fuzzed the day it lands),
 * called with inputs shaped like its parameters and inputs that are not: each answer must be below
 * 500, and every refusal the documented {error, message, request_id}.
 */

interface JsonSchema {
  type?: string | string[];
  format?: string;
  enum?: unknown[];
  items?: JsonSchema;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
}

interface Operation {
  readonly method: string;
  readonly path: string;
  readonly query: Readonly<Record<string, JsonSchema>>;
  /** The body's media type and properties; null when the route takes no body. */
  readonly body: { readonly type: string; readonly properties: Readonly<Record<string, JsonSchema>>; readonly required: readonly string[] } | null;
  readonly conditional: boolean;
}

interface OpenApiOperation {
  parameters?: { name: string; in: string; schema: JsonSchema }[];
  requestBody?: { content: Record<string, { schema: JsonSchema }> };
}

let server: TestServer;
let operations: Operation[];
const tokens = { superAdmin: '', unitAdmin: '' };
/**
 * Ids of things that exist, by the collection they belong to, so that fuzzed requests reach past
 * "not found" into the handlers. Things the fuzzing creates join them; things it deletes stay, as
 * ids that no longer exist.
 */
const known = { users: [] as string[], 'org-units': [] as string[], groups: [] as string[], 'role-assignments': [] as string[], serviceClientId: '' };
type Collection = 'users' | 'org-units' | 'groups' | 'role-assignments';
const collections: readonly Collection[] = ['users', 'org-units', 'groups', 'role-assignments'];

/** The collection an id field or path parameter names: user_id a person, parent_id a unit, and so on. */
function collectionOf(name: string, path: string): Collection | null {
  if (name === 'user_id') return 'users';
  if (name === 'group_id') return 'groups';
  if (['org_unit_id', 'parent_id', 'within', 'concurrent_unit_ids'].includes(name)) return 'org-units';
  if (name === 'id') return collections.find((collection) => path.startsWith(`/${collection}/`)) ?? null;
  return null;
}

/** An id of the right kind when there is one, any known id sometimes, or one that exists nowhere. */
function knownId(collection: Collection | null): fc.Arbitrary<string> {
  const own = collection ? known[collection] : [];
  const all = collections.flatMap((each) => known[each]);
  return fc.oneof(
    { arbitrary: own.length > 0 ? fc.constantFrom(...own) : fc.uuid(), weight: 6 },
    { arbitrary: all.length > 0 ? fc.constantFrom(...all) : fc.uuid(), weight: 1 },
    { arbitrary: fc.uuid(), weight: 1 },
  );
}

beforeAll(async () => {
  server = await startTestServer();
  const tree = await buildProvinceTree(server);
  const superAdmin = await serviceCaller(server, 'super_admin', null, 'Sở Thông tin và Truyền thông');
  const unitAdmin = await serviceCaller(server, 'org_admin', tree.caiBe, 'Cái Bè automation');
  tokens.superAdmin = superAdmin.token;
  tokens.unitAdmin = unitAdmin.token;
  known.serviceClientId = unitAdmin.clientId;

  const api = apiClient(server, superAdmin.token);
  const withEmail = await api<{ id: string }>('POST', '/users', { full_name: 'Trần Thị Bích', email: 'bich@tiengiang.gov.vn', org_unit_id: tree.anHuu.id });
  const withoutEmail = await api<{ id: string }>('POST', '/users', { full_name: 'Lê Văn Tám', employee_code: 'CB-0008', org_unit_id: tree.binhPhan.id });
  const group = await api<{ id: string }>('POST', '/groups', { name: 'Tổ công nghệ thông tin', org_unit_id: tree.caiBe.id });
  const assignment = await api<{ id: string }>('POST', '/role-assignments', { user_id: withEmail.body.id, role: 'auditor', org_unit_id: tree.anHuu.id });
  for (const created of [withEmail, withoutEmail, group, assignment]) expect(created.status).toBe(201);
  // The super admin's own assignment stays out of reach: revoking it would leave the rest of the run at 403.
  known['org-units'].push(...[tree.province, tree.caiBe, tree.choGao, tree.anHuu, tree.binhPhan, tree.anHuuHealthStation].map((unit) => unit.id));
  known.users.push(withEmail.body.id, withoutEmail.body.id);
  known.groups.push(group.body.id);
  known['role-assignments'].push(assignment.body.id);

  const document = (await (await fetch(`${server.issuer}/api/v1/openapi.json`)).json()) as { paths: Record<string, Record<string, OpenApiOperation>> };
  operations = Object.entries(document.paths).flatMap(([path, methods]) => Object.entries(methods).map(([method, operation]) => {
    const [bodyType, bodyContent] = Object.entries(operation.requestBody?.content ?? {})[0] ?? [];
    return {
      method: method.toUpperCase(),
      path,
      query: Object.fromEntries((operation.parameters ?? []).filter((parameter) => parameter.in === 'query').map((parameter) => [parameter.name, parameter.schema])),
      body: bodyType ? { type: bodyType, properties: bodyContent?.schema.properties ?? {}, required: bodyContent?.schema.required ?? [] } : null,
      conditional: (operation.parameters ?? []).some((parameter) => parameter.name === 'If-Match'),
    };
  }));
});

afterAll(async () => {
  await server?.stop();
});

/** The alternatives of a schema, nullable wrappers and unions flattened. */
function variantsOf(schema: JsonSchema): JsonSchema[] {
  return [...(schema.anyOf ?? []), ...(schema.oneOf ?? [])].flatMap(variantsOf).concat(schema.anyOf || schema.oneOf ? [] : [schema]);
}

/** Values a field's own name suggests: plausible enough to pass validation and reach the database (client_id: the org admin's client). */
const plausibleByName: Record<string, readonly unknown[]> = {
  full_name: ['Nguyễn Văn Fuzz', 'Đoàn Thị Kiểm Thử'],
  username: ['fuzz.user', 'nguyenvanfuzz'],
  email: ['fuzz@tiengiang.gov.vn', 'FUZZ@TIENGIANG.GOV.VN'],
  phone: ['0912 345 678', '+84 273 3873 123'],
  employee_code: ['CB-0008', 'FUZZ/01'],
  national_id: ['082095000123', '079 123 456 789'],
  position: ['Chuyên viên', ''],
  code: ['TG.FUZZ', 'TG.CAIBE.FUZZ', 'TG'],
  name: ['Phòng Kiểm thử', 'Tổ công nghệ thông tin'],
  description: ['mô tả', null],
  q: ['dang', 'Nguyễn', 'TG.CAIBE'],
  cursor: ['eyJrZXkiOiIiLCJpZCI6IjAwMDAwMDAwLTAwMDAtMDAwMC0wMDAwLTAwMDAwMDAwMDAwMCJ9', 'bnVsbA', '"'],
  file_name: ['nhan-su.csv'],
  from: ['2020-01-01T00:00:00Z'],
  to: ['2100-01-01T00:00:00+07:00'],
};

/**
 * How far a request strays from what the API expects. Plausible requests get past validation into
 * the handlers and the database, with the odd field gone wrong; hostile ones test the door itself.
 */
type Mischief = 'plausible' | 'hostile';

/** A value for one field: what its schema asks for, or (rarely when plausible) anything at all. */
function fieldValue(name: string, schema: JsonSchema, mischief: Mischief): fc.Arbitrary<unknown> {
  const fitting: fc.Arbitrary<unknown>[] = [];
  const plausible = name === 'client_id' ? [known.serviceClientId] : plausibleByName[name] ?? [];
  if (plausible.length > 0) fitting.push(fc.constantFrom(...plausible));
  for (const variant of variantsOf(schema)) {
    const type = Array.isArray(variant.type) ? variant.type[0] : variant.type;
    if (variant.enum) fitting.push(fc.constantFrom(...variant.enum));
    else if (variant.format === 'uuid') fitting.push(fc.oneof({ arbitrary: knownId(collectionOf(name, '')), weight: 4 }, knownId(collectionOf(name, '')).map((id) => id.toUpperCase())));
    else if (type === 'array') fitting.push(fc.array(fieldValue(name, variant.items ?? {}, mischief), { maxLength: mischief === 'plausible' ? 3 : 25 }));
    else if (type === 'boolean') fitting.push(fc.boolean());
    else if (type === 'integer' || type === 'number') fitting.push(fc.oneof(fc.integer({ min: -5, max: 250 }), fc.constantFrom(0, 2 ** 31, 2 ** 53, 1e300)));
    else if (type === 'null') fitting.push(fc.constant(null));
    else if (type === 'string' && plausible.length === 0) fitting.push(mischief === 'plausible' ? fc.string({ unit: 'grapheme', maxLength: 30 }) : hostileString);
  }
  const anything = fc.oneof(hostileString, hostileJson);
  if (fitting.length === 0) return anything;
  return fc.oneof({ arbitrary: fc.oneof(...fitting), weight: mischief === 'plausible' ? 19 : 4 }, { arbitrary: anything, weight: 1 });
}

/** A query value is text: the field's value as a client would write it. */
const queryValue = (operation: Operation, mischief: Mischief) => (name: string): fc.Arbitrary<string> =>
  fieldValue(name, operation.query[name] ?? {}, mischief).map((value) => (typeof value === 'string' ? value : JSON.stringify(value) ?? ''));

/** A path parameter: an id that exists, one that does not, or something that is not an id at all, encoded or not. */
const pathSegment = (collection: Collection | null, mischief: Mischief): fc.Arbitrary<string> => fc.oneof(
  { arbitrary: knownId(collection), weight: 6 },
  { arbitrary: hostileString.map(percentEncode), weight: mischief === 'plausible' ? 0 : 3 },
  { arbitrary: fc.constantFrom('%', '%C3%28', '%E0%A4%A', '%00', '..', '%2e%2e', '%2F', '', '*', 'ü', '%FF%FE'), weight: mischief === 'plausible' ? 0 : 2 },
);

/** A JSON object with the body's fields (the required ones always, when plausible), and maybe some it does not have. */
function shapedObject(operation: Operation, mischief: Mischief): fc.Arbitrary<string> {
  const { properties = {}, required = [] } = operation.body ?? {};
  const fields = fc.record(
    Object.fromEntries(Object.entries(properties).map(([name, schema]) => [name, fieldValue(name, schema, mischief)])),
    { requiredKeys: mischief === 'plausible' ? [...required] : [] },
  );
  const extra = mischief === 'plausible' ? fc.constant({}) : fc.dictionary(hostileString, hostileJson, { maxKeys: 2 });
  return fc.tuple(fields, extra).map(([object, more]) => JSON.stringify({ ...more, ...object }));
}

function plausibleRequest(operation: Operation): fc.Arbitrary<RawRequest> {
  const names = Object.keys(operation.query);
  const query = fc
    .subarray(names)
    .chain((chosen) => fc.tuple(...chosen.map((name) => queryValue(operation, 'plausible')(name).map((value) => `${name}=${percentEncode(value)}`))))
    .map((pairs) => pairs.join('&'));
  const body = operation.body === null ? fc.constant(undefined) : operation.body.type === 'application/json' ? shapedObject(operation, 'plausible') : csvLike;
  return fc
    .record({
      path: pathWith(operation, 'plausible'),
      query,
      body,
      caller: fc.constantFrom('Bearer {superAdmin}', 'Bearer {superAdmin}', 'Bearer {superAdmin}', 'Bearer {unitAdmin}'),
      ifMatch: operation.conditional ? fc.constantFrom(undefined, '"1"', '"2"', '"3"') : fc.constant(undefined),
    })
    .map(({ path, query: search, body: payload, caller, ifMatch: match }) => {
      const headers: [string, string][] = [['Authorization', caller]];
      if (payload !== undefined) headers.push(['Content-Type', operation.body?.type ?? 'application/json']);
      if (match !== undefined) headers.push(['If-Match', match]);
      return { method: operation.method, target: `/api/v1${path}${search ? `?${search}` : ''}`, headers, body: payload };
    });
}

/** The operation's path with each {parameter} filled in. */
const pathWith = (operation: Operation, mischief: Mischief): fc.Arbitrary<string> => {
  const names = [...operation.path.matchAll(/\{(\w+)\}/g)].map((match) => match[1]!);
  return fc
    .tuple(...names.map((name) => pathSegment(collectionOf(name, operation.path), mischief)))
    .map((segments) => names.reduce((path, name, index) => path.replace(`{${name}}`, segments[index] ?? ''), operation.path));
};

/** A small CSV whose cells are hostile strings (the import has its own, deeper fuzz test). */
const csvLike = fc
  .array(fc.array(hostileString, { minLength: 1, maxLength: 4 }), { maxLength: 4 })
  .map((rows) => ['full_name,employee_code,org_unit_code', ...rows.map((cells) => cells.join(','))].join('\r\n'));

function hostileBody(operation: Operation): fc.Arbitrary<{ body: Buffer | string | undefined; contentType: string | undefined }> {
  const body = operation.body === null
    ? fc.oneof({ arbitrary: fc.constant(undefined), weight: 6 }, hostileJson.map((value) => JSON.stringify(value) ?? 'null'), invalidUtf8)
    : fc.oneof(
      { arbitrary: operation.body.type === 'application/json' ? shapedObject(operation, 'hostile') : csvLike, weight: 6 },
      { arbitrary: hostileJson.map((value) => JSON.stringify(value) ?? 'null'), weight: 2 },
      { arbitrary: hostileString, weight: 1 },
      { arbitrary: invalidUtf8, weight: 1 },
      // Just over the JSON limit (256 kB; 20 MB of CSV would be slow to send), and nested deeper than any call stack.
      { arbitrary: fc.constantFrom(JSON.stringify({ full_name: 'x'.repeat(300_000) }), `${'['.repeat(100_000)}${']'.repeat(100_000)}`, `{"a":${'{"a":'.repeat(40_000)}1${'}'.repeat(40_001)}`), weight: 1 },
      { arbitrary: fc.constant(undefined), weight: 1 },
    );
  const contentType = fc.oneof(
    { arbitrary: fc.constant(operation.body?.type ?? 'application/json'), weight: 6 },
    { arbitrary: fc.constantFrom(...contentTypes), weight: 2 },
    { arbitrary: fc.constant(undefined), weight: 1 },
  );
  return fc.record({ body, contentType });
}

/**
 * Who calls: mostly the super admin (to get past authentication), sometimes the org admin, nobody,
 * or a broken token. Tokens are written as placeholders, filled in when sending, so that a
 * counterexample reads "Bearer {superAdmin}" instead of a page of base64.
 */
const hostileAuthorization = fc.oneof(
  { arbitrary: fc.constant('Bearer {superAdmin}'), weight: 6 },
  { arbitrary: fc.constant('Bearer {unitAdmin}'), weight: 2 },
  { arbitrary: fc.constant(undefined), weight: 2 },
  {
    arbitrary: fc.oneof(
      hostileString.map((value) => `Bearer ${value.replace(/[\r\n]/g, '')}`),
      fc.constantFrom('bearer {superAdmin}', 'Bearer  {superAdmin}', 'Bearer {superAdmin}AAAA', 'Bearer {superAdmin}.', 'Bearer {superAdmin}, Bearer {unitAdmin}'),
      fc.constant('Basic Zm9vOmJhcg=='),
      fc.constant('Bearer eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0.eyJzdWIiOiJ4In0.'),
    ),
    weight: 2,
  },
);

const withTokens = (value: string) => value.replace('{superAdmin}', tokens.superAdmin).replace('{unitAdmin}', tokens.unitAdmin);

const hostileIfMatch = fc.option(
  fc.oneof(fc.constantFrom('"1"', '"0"', 'W/"2"', '"99999999999999999999"', '"2147483648"', '"-1"', '*', '"1", "2"', ''), hostileString.map((value) => value.replace(/[\r\n]/g, ''))),
  { nil: undefined },
);

function hostileRequest(operation: Operation): fc.Arbitrary<RawRequest> {
  // No CONNECT: Node's HTTP server closes such a connection unanswered unless something listens for
  // 'connect', which is the right thing for a server that is no proxy.
  const method = fc.oneof(
    { arbitrary: fc.constant(operation.method), weight: 9 },
    { arbitrary: fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD', 'TRACE', 'PROPFIND', 'get'), weight: 1 },
  );
  const suffix = fc.oneof({ arbitrary: fc.constant(''), weight: 8 }, fc.constantFrom('/', '//', '/x', '.json', ';a=b', '/..', '%2F'));
  return fc
    .record({
      method,
      path: pathWith(operation, 'hostile'),
      suffix,
      query: hostileQuery(Object.keys(operation.query), queryValue(operation, 'hostile')),
      payload: hostileBody(operation),
      authorization: hostileAuthorization,
      ifMatch: operation.conditional ? hostileIfMatch : fc.oneof({ arbitrary: fc.constant(undefined), weight: 5 }, hostileIfMatch),
      extraHeaders: hostileHeaders,
    })
    .map(({ method: verb, path, suffix: tail, query, payload, authorization, ifMatch, extraHeaders }) => {
      const headers: [string, string][] = [];
      if (authorization !== undefined) headers.push(['Authorization', authorization]);
      if (payload.contentType !== undefined && payload.body !== undefined) headers.push(['Content-Type', payload.contentType]);
      if (ifMatch !== undefined) headers.push(['If-Match', ifMatch]);
      headers.push(...extraHeaders);
      return { method: verb, target: `/api/v1${path}${tail}${query ? `?${query}` : ''}`, headers, body: payload.body };
    });
}

/** What a POST created joins the known ids, so later requests can read, change and delete it. */
function rememberCreated(request: RawRequest, response: RawResponse): void {
  if (response.status !== 201) return;
  const collection = collections.find((each) => request.target.startsWith(`/api/v1/${each}`));
  const id = (JSON.parse(response.text) as { id?: unknown }).id;
  if (collection && typeof id === 'string') known[collection].push(id);
}

/** One request, and what every answer from the API must be. */
async function expectWellFormedAnswer(request: RawRequest): Promise<void> {
  const headers = (request.headers ?? []).map(([name, value]) => [name, withTokens(value)] as const);
  const response = await rawRequest(server.issuer, { ...request, headers });
  expectNoServerError(response, request);
  rememberCreated(request, response);
  // Node's own HTTP parser refuses some requests (header injection, say) before Mekong ID sees them:
  // those answers carry no request id and no body to check.
  const reachedMekongId = response.headers['x-request-id'] !== undefined;
  if (reachedMekongId && response.status >= 400 && request.method !== 'HEAD') expectApiErrorShape(response, request);
}

describe('the admin API under fuzzed requests', () => {
  it('answers every route, called as a super admin, an org admin or anonymously, without a 5xx and with JSON errors', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constant(null).chain(() => fc.constantFrom(...operations)).chain((operation) => fc.oneof(plausibleRequest(operation), hostileRequest(operation))),
        expectWellFormedAnswer,
      ),
      fuzzParameters(300),
    );
  }, fuzzTestTimeoutMs);

  it('answers paths and methods the API does not have without a 5xx and with JSON errors', async () => {
    const unknownPath = fc.record({
      method: fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD', 'TRACE', 'PROPFIND'),
      path: fc.array(pathSegment(null, 'hostile'), { minLength: 0, maxLength: 4 }).map((segments) => segments.join('/')),
      authorization: hostileAuthorization,
    }).map(({ method, path, authorization }): RawRequest => ({
      method, target: `/api/v1/${path}`, headers: authorization === undefined ? [] : [['Authorization', authorization]],
    }));
    await fc.assert(fc.asyncProperty(unknownPath, expectWellFormedAnswer), fuzzParameters(100, 5_000));
  }, fuzzTestTimeoutMs);

  it('is still up and serving after the fuzzing', async () => {
    const response = await rawRequest(server.issuer, { method: 'GET', target: '/api/v1/users?limit=1', headers: [['Authorization', withTokens('Bearer {superAdmin}')]] });
    expect(response.status).toBe(200);
    expect((await rawRequest(server.issuer, { method: 'GET', target: '/readyz' })).status).toBe(200);
  });
});
