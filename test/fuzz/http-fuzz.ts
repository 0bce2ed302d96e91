import net from 'node:net';

import fc from 'fast-check';
import { expect } from 'vitest';

/**
 * What the fuzz tests share: a raw HTTP/1.1 client, the hostile inputs they draw from, and the
 * checks every answer must pass.
 *
 * The client writes bytes to a socket rather than using fetch: fetch and node:http both refuse to
 * send what an attacker would (CR or LF in a header, bytes above 0x7F in a path or a header,
 * invalid UTF-8), and the point here is what the server does with exactly that.
 */

export interface RawRequest {
  readonly method: string;
  /** The request target as sent, bytes and all: "/api/v1/users?q=%00". */
  readonly target: string;
  readonly headers?: readonly (readonly [string, string])[];
  readonly body?: Buffer | string | undefined;
}

export interface RawResponse {
  readonly status: number;
  /** Lower-cased names; repeated headers joined with ", ". */
  readonly headers: Readonly<Record<string, string>>;
  readonly text: string;
}

/** A request described for a counterexample: short enough to read, exact enough to replay. */
export function describeRequest(request: RawRequest): string {
  const body = request.body === undefined ? '' : Buffer.from(request.body).subarray(0, 400).toString('latin1');
  const headers = (request.headers ?? []).map(([name, value]) => `${name}: ${value.slice(0, 200)}`).join(' | ');
  return `${request.method} ${request.target.slice(0, 400)} [${headers}] ${JSON.stringify(body)}`;
}

/**
 * Sends one request on its own connection and reads the whole answer. Strings in the target and
 * headers are written as latin1, so each char below 0x100 is the byte of that value and a fuzz
 * input can hold any byte. A server that never answers fails the request after `timeoutMs`.
 */
export function rawRequest(origin: string, request: RawRequest, timeoutMs = 15_000): Promise<RawResponse> {
  const { hostname, port } = new URL(origin);
  const body = request.body === undefined ? undefined : Buffer.isBuffer(request.body) ? request.body : Buffer.from(request.body, 'utf8');
  const lines = [`${request.method} ${request.target} HTTP/1.1`, `Host: ${hostname}:${port}`, 'Connection: close'];
  for (const [name, value] of request.headers ?? []) lines.push(`${name}: ${value}`);
  if (body !== undefined && !(request.headers ?? []).some(([name]) => name.toLowerCase() === 'content-length')) {
    lines.push(`Content-Length: ${body.length}`);
  }
  const head = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');

  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = net.connect(Number(port), hostname);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within ${timeoutMs} ms to ${describeRequest(request)}`));
    }, timeoutMs);
    const finish = (error?: Error) => {
      clearTimeout(timer);
      const received = Buffer.concat(chunks);
      // A server may answer and close before reading a body it has already refused (a 413, say):
      // the reset that follows is ours to ignore as long as the answer came.
      if (received.length > 0) {
        try {
          resolve(parseResponse(received, request.method));
        } catch (parseError) {
          reject(parseError instanceof Error ? parseError : new Error(String(parseError)));
        }
        return;
      }
      reject(error ?? new Error(`the server closed the connection without answering ${describeRequest(request)}`));
    };
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.once('end', () => finish());
    socket.once('error', (error) => finish(error));
    socket.write(body ? Buffer.concat([head, body]) : head);
  });
}

function parseResponse(received: Buffer, method: string): RawResponse {
  let answer = received;
  // An interim answer (100 Continue to an Expect header) comes before the real one.
  while (/^HTTP\/1\.[01] 1\d\d /.test(answer.subarray(0, 16).toString('latin1')) && answer.indexOf('\r\n\r\n') >= 0) {
    answer = answer.subarray(answer.indexOf('\r\n\r\n') + 4);
  }
  const split = answer.indexOf('\r\n\r\n');
  if (split < 0) throw new Error(`an incomplete HTTP answer: ${answer.toString('latin1').slice(0, 200)}`);
  const [statusLine = '', ...headerLines] = answer.subarray(0, split).toString('latin1').split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1]);
  if (!Number.isInteger(status)) throw new Error(`not an HTTP status line: ${statusLine}`);
  const headers: Record<string, string> = {};
  for (const line of headerLines) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  let body = answer.subarray(split + 4);
  if (method === 'HEAD') body = Buffer.alloc(0);
  else if (headers['transfer-encoding']?.includes('chunked')) body = dechunk(body);
  return { status, headers, text: body.toString('utf8') };
}

function dechunk(encoded: Buffer): Buffer {
  const parts: Buffer[] = [];
  let offset = 0;
  for (;;) {
    const lineEnd = encoded.indexOf('\r\n', offset);
    if (lineEnd < 0) break;
    const size = parseInt(encoded.subarray(offset, lineEnd).toString('latin1'), 16);
    if (!Number.isFinite(size) || size === 0) break;
    parts.push(encoded.subarray(lineEnd + 2, lineEnd + 2 + size));
    offset = lineEnd + 2 + size + 2;
  }
  return Buffer.concat(parts);
}

/** The property every fuzz test states: whatever was sent, the server answers, and not with a 5xx. */
export function expectNoServerError(response: RawResponse, request: RawRequest): void {
  expect(response.status, `${describeRequest(request)}\n→ ${response.status} ${response.text.slice(0, 600)}`).toBeLessThan(500);
}

/** The admin API's documented error body: {error, message, request_id}, the id being the response's. */
export function expectApiErrorShape(response: RawResponse, request: RawRequest): void {
  const where = `${describeRequest(request)}\n→ ${response.status} ${response.text.slice(0, 600)}`;
  expect(response.headers['content-type'], where).toMatch(/^application\/json/);
  expect(JSON.parse(response.text), where).toEqual({
    error: expect.stringMatching(/^[a-z_]+$/) as unknown,
    message: expect.any(String) as unknown,
    request_id: response.headers['x-request-id'],
  });
}

/** Strings chosen because code tends to trip on them: empty, NUL, broken escapes, lone surrogates, numbers that overflow, prototype keys. */
const trickyStrings = [
  '', ' ', '\u0000', 'a\u0000b', '\u0007\u001b[31m', '%', '%00', '%ZZ', '%E0%A4%A', '%C3%28', '%2F..%2F', '../../etc/passwd', '\\',
  '\uD800', '\uDFFF\uD800', '\uFEFF', '\u202Eevil', '\u200B', 'Nguyễn Văn A', 'Ðặng', 'e\u0301', '😀', '𝕏',
  "' OR 1=1 --", '"; drop table users; --', '<script>alert(1)</script>', '{{7*7}}', '${process.exit()}', '%s%n',
  '__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty',
  '0', '-1', '1.5', '1e309', '-0', 'NaN', 'Infinity', '9007199254740993', '99999999999999999999999', '2147483648', '-2147483649',
  'null', 'true', 'false', '[]', '{}', '{"a":', 'undefined',
  '0000-01-01T00:00:00Z', '-000001-01-01T00:00:00Z', '275760-09-13T00:00:00.001Z', '2024-02-30T00:00:00Z', '2024-13-01T00:00:00Z',
  '1970-01-01T00:00:00+99:99', '9999-12-31T23:59:60Z',
  '00000000-0000-0000-0000-000000000000', 'FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF', '6f1c1f3e-8a0b-4c5d-9e2f-1a2b3c4d5e6f',
  'A'.repeat(257), 'ệ'.repeat(1500), '1'.repeat(5000),
] as const;

/** Any text a client could send: short random strings of every kind, tricky constants, and the odd long one. */
export const hostileString: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.constantFrom(...trickyStrings), weight: 4 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 40 }), weight: 3 },
  { arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }), weight: 2 },
  { arbitrary: fc.string({ maxLength: 20 }), weight: 2 },
  { arbitrary: fc.string({ unit: fc.constantFrom('a', 'ệ', '\u0000', '%', '"', ',', ';', '\n'), minLength: 200, maxLength: 2000 }), weight: 1 },
);

/** A JSON value built from hostile strings, numbers at the edges, and deep or wide structures. */
export const hostileJson: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    hostileString,
    fc.constantFrom(0, -1, 1.5, 2147483648, -2147483649, Number.MAX_SAFE_INTEGER + 2, 1e308, -1e-308, true, false, null),
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.array(tie('value'), { maxLength: 5 }),
    fc.dictionary(fc.oneof(hostileString, fc.constantFrom('__proto__', 'constructor')), tie('value'), { maxKeys: 5 }),
  ),
})).value;

/** Bytes that are not UTF-8: stray continuation bytes, overlongs, surrogates, and byte-order marks of other encodings. */
export const invalidUtf8: fc.Arbitrary<Buffer> = fc
  .tuple(
    fc.string({ maxLength: 20 }),
    fc.constantFrom([0xc3, 0x28], [0xff], [0xfe, 0xff], [0xed, 0xa0, 0x80], [0xc0, 0xaf], [0xe0, 0x80, 0xaf], [0xf8, 0x88, 0x80, 0x80, 0x80], [0x80], [0xf4, 0x90, 0x80, 0x80]),
    fc.string({ maxLength: 20 }),
  )
  .map(([before, bytes, after]) => Buffer.concat([Buffer.from(before), Buffer.from(bytes), Buffer.from(after)]));

/**
 * Percent-encodes every byte outside the unreserved set. Unlike encodeURIComponent it never throws:
 * a lone surrogate goes out as the UTF-8 of U+FFFD (invalid UTF-8 comes from the raw pieces instead).
 */
export function percentEncode(value: string): string {
  return [...Buffer.from(value, 'utf8')].map((byte) => {
    const char = String.fromCharCode(byte);
    return /[A-Za-z0-9\-._~]/.test(char) ? char : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }).join('');
}

/** A query string written by hand, so that it can hold what URLSearchParams would never produce. */
export const hostileQuery = (knownNames: readonly string[], valueFor: (name: string) => fc.Arbitrary<string>): fc.Arbitrary<string> =>
  fc
    .array(
      fc.oneof(
        { arbitrary: fc.constantFrom(...(knownNames.length > 0 ? knownNames : ['q'])).chain((name) => valueFor(name).map((value) => `${name}=${percentEncode(value)}`)), weight: 5 },
        { arbitrary: fc.tuple(hostileString, hostileString).map(([name, value]) => `${percentEncode(name)}=${percentEncode(value)}`), weight: 2 },
        // Raw, unencoded or badly encoded pieces: "%", "a=%E0%A4%A", "=&&=", bare names.
        { arbitrary: fc.constantFrom('%', '%%', 'a=%E0%A4%A', '=', '&', 'a', 'a[]=1', 'a[b]=1', '__proto__[x]=1', 'q=%00', 'limit=%FF', 'cursor=%C3%28'), weight: 1 },
      ),
      { maxLength: 5 },
    )
    .map((pairs) => pairs.join('&'));

/** Content types a client might send, right, wrong, or broken. */
export const contentTypes = [
  'application/json', 'application/json; charset=utf-8', 'application/json; charset=latin1', 'application/json; charset=utf-16',
  'application/json; charset=nonsense', 'application/merge-patch+json', 'application/x-www-form-urlencoded', 'text/plain', 'text/csv',
  'text/csv; charset=utf-8', 'multipart/form-data; boundary=x', 'multipart/form-data', 'application/xml', 'application/octet-stream',
  '', ';', 'application/', '*/*', 'text/html',
] as const;

/**
 * Extra headers a client might add: header injection (an encoded CR/LF, a bare LF or CR), bytes
 * above 0x7F, huge values, and headers the server reads (Accept, Accept-Language, X-Forwarded-For,
 * X-Request-Id, Cookie, Content-Encoding). Never Transfer-Encoding: a chunked request that never
 * ends would only time out this client.
 */
export const hostileHeaders: fc.Arbitrary<[string, string][]> = fc.oneof(
  // Usually none: many of these never get past Node's HTTP parser, and the rest of the request deserves its turn.
  { arbitrary: fc.constant<[string, string][]>([]), weight: 3 },
  { arbitrary: headerList(), weight: 1 },
);

function headerList(): fc.Arbitrary<[string, string][]> {
  const readHeader = fc.tuple(
    fc.constantFrom('Accept', 'Accept-Language', 'X-Forwarded-For', 'X-Forwarded-Proto', 'X-Forwarded-Host', 'X-Request-Id', 'Cookie', 'Origin', 'Referer', 'User-Agent', 'Content-Encoding', 'Expect', 'Range', 'If-None-Match'),
    fc.oneof(
      fc.constantFrom('*/*', 'text/html', 'application/json', 'vi', 'en;q=0.5, vi', 'zz-ZZ', '1.2.3.4, 5.6.7.8', 'not an ip', 'https', 'evil.example',
        'gzip', 'br', 'deflate', 'identity', '100-continue', 'bytes=0-1', 'a'.repeat(8000), 'x'.repeat(20_000)),
      fc.string({ unit: 'binary-ascii', maxLength: 60 }).map((value) => value.replace(/[\r\n]/g, '')),
      // Bytes above 0x7F, written raw (latin1): obs-text that a parser may or may not accept.
      fc.string({ unit: fc.integer({ min: 0x20, max: 0xff }).map((code) => String.fromCharCode(code)), maxLength: 40 }),
      fc.constantFrom('a\r\nX-Injected: 1', 'a\nX-Injected: 1', 'a\rb', 'a\u0000b', 'a%0d%0aSet-Cookie: x=1'),
    ),
  );
  const anyHeader = fc.tuple(
    fc.stringMatching(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,30}$/),
    fc.string({ unit: 'binary-ascii', maxLength: 40 }).map((value) => value.replace(/[\r\n]/g, '')),
  );
  return fc.array(fc.oneof(readHeader, anyHeader), { minLength: 1, maxLength: 3 });
}

/**
 * How long a property may run: `numRuns` runs, or fewer if `timeLimitMs` passes first, so that a
 * slow or busy machine runs less rather than failing on a timeout. FUZZ_RUNS=n runs exactly n, with
 * no time limit (for a long hunt: `FUZZ_RUNS=5000 npx vitest run test/fuzz`). FUZZ_SEED runs from the
 * seed a failure reported: the same inputs, though the server's state (what earlier runs created)
 * may differ, so the failure is likely, not certain, to come back.
 */
export function fuzzParameters<Ts>(numRuns: number, timeLimitMs = 20_000): fc.Parameters<Ts> {
  const runs = process.env['FUZZ_RUNS'];
  const seed = process.env['FUZZ_SEED'];
  return {
    numRuns: runs ? Number(runs) : numRuns,
    ...(runs ? {} : { plugins: [fc.interruptAfterTimeLimit(timeLimitMs)] }),
    ...(seed ? { seed: Number(seed) } : {}),
  };
}

/** The timeout of a test that runs a property: room for its time limit and for shrinking a failure. */
export const fuzzTestTimeoutMs = process.env['FUZZ_RUNS'] ? 60 * 60_000 : 90_000;
