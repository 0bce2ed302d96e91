import { Readable } from 'node:stream';

import type Router from '@koa/router';
import coBody from 'co-body';
import type { Context } from 'koa';
import { z } from 'zod';

import { findNulCharacter } from '../../db/nul-characters.ts';
import type { AdminContext } from '../../domain/authorization.ts';
import { AppError, invalidCursor, invalidInput } from '../../errors.ts';

/**
 * One admin API route: its method and path, a zod schema for each part of its input and for its
 * output, and a handler that sees only parsed input. The router validates on the way in and the
 * way out (so nothing leaves that the schema does not name), and the OpenAPI document is built
 * from the same declarations, so the docs cannot drift from the code.
 */
export interface ApiRoute<
  P extends z.ZodType = z.ZodType,
  Q extends z.ZodType = z.ZodType,
  B extends z.ZodType = z.ZodType,
  R extends z.ZodType = z.ZodType,
> {
  readonly method: 'get' | 'post' | 'patch' | 'put' | 'delete';
  /** OpenAPI style, below /api/v1: "/users/{id}". */
  readonly path: string;
  readonly summary: string;
  readonly tag: string;
  readonly params?: P;
  readonly query?: Q;
  readonly body?: B;
  /** The request body's media type when it is not JSON (a CSV upload): the body reaches `body` as its bytes, see `fileBody`. */
  readonly bodyType?: string;
  /** The success body; null for 204 No Content. */
  readonly response: R | null;
  readonly status?: number;
  /** Content types the route can answer besides JSON (a CSV export). */
  readonly alsoProduces?: readonly string[];
  /** The route reads and honours If-Match (412 on a stale version). */
  readonly conditional?: boolean;
  readonly handler: (request: ApiRequest<z.output<P>, z.output<Q>, z.output<B>>) => Promise<ApiResult<z.input<R>>>;
}

export interface ApiRequest<P, Q, B> {
  readonly params: P;
  readonly query: Q;
  readonly body: B;
  readonly context: AdminContext;
  /** The version an If-Match header names, when the client sent one. */
  readonly expectedVersion: number | undefined;
  readonly koa: Context;
}

/** A body, or a body with a version to send as the ETag; undefined for 204. */
export type ApiResult<T> = T | { readonly body: T; readonly version: number } | { readonly raw: string | Buffer; readonly type: string; readonly filename?: string };

export function defineRoute<P extends z.ZodType, Q extends z.ZodType, B extends z.ZodType, R extends z.ZodType>(
  route: ApiRoute<P, Q, B, R>,
): ApiRoute {
  return route;
}

/** ETags are the resource's version: strong, quoted. */
export const etagOf = (version: number) => `"${version}"`;

function parseIfMatch(header: string): number {
  const match = /^(?:W\/)?"(\d+)"$/.exec(header.trim());
  if (!match) throw new AppError('invalid_if_match', 'If-Match must be the ETag of the resource as you read it, such as "3"', 400);
  return Number(match[1]);
}

/** 20 MB holds 100,000 people (the import's most) with room to spare. */
const uploadLimit = '20mb';

/** The body of an upload route (`bodyType`): a file's bytes, at least one. */
export const fileBody = (problem: string) => z.instanceof(Buffer).refine((bytes) => bytes.length > 0, problem);

/**
 * An upload's bytes, decompressed if sent so, for its reader to judge (the import names a file that
 * is not UTF-8). Never decoded here: a province's CSV as one JavaScript string is twice its size.
 * Plain text is taken too, as curl and many scripts label a file.
 */
async function readUpload(ctx: Context, type: string): Promise<Buffer> {
  const is = ctx.is(type, 'text/plain');
  if (is === null) return Buffer.alloc(0);
  if (is === false) throw new AppError('unsupported_media_type', `send the file as the request body with Content-Type: ${type}`, 415);
  // co-body's types know only text; told no encoding, raw-body beneath it answers with the bytes.
  return (await coBody.text(ctx, { encoding: false as unknown as string, limit: uploadLimit })) as Buffer;
}

/** One part of a request through its schema; `raw` for an upload that is not JSON (a CSV file). */
function parsePart<S extends z.ZodType>(schema: S | undefined, value: unknown, where: string, options: { raw?: boolean } = {}): z.output<S> | undefined {
  if (!schema) return undefined;
  // PostgreSQL cannot store a NUL, and no field has a use for one. A raw upload (the import's CSV)
  // is its reader's to judge: the import names a NUL as the mark of a file that is not text.
  const nul = options.raw ? null : findNulCharacter(value, where);
  if (nul !== null) throw invalidInput(`${nul}: text cannot contain the NUL character (U+0000)`);
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    throw invalidInput(
      parsed.error.issues.map((issue) => `${[where, ...issue.path.map(String)].join('.')}: ${issue.message}`).join('; '),
    );
  }
  return parsed.data;
}

function isVersioned(result: unknown): result is { body: unknown; version: number } {
  return typeof result === 'object' && result !== null && 'version' in result && 'body' in result && Object.keys(result).length === 2;
}

function isRaw(result: unknown): result is { raw: string | Buffer; type: string; filename?: string } {
  return typeof result === 'object' && result !== null && 'raw' in result && 'type' in result;
}

/**
 * Mounts routes on a router. `authenticate` turns the request into the admin acting; only then is
 * the body read (`parseBody`), so an anonymous caller cannot make the server parse megabytes.
 */
export function mountRoutes(
  router: Router,
  routes: readonly ApiRoute[],
  authenticate: (ctx: Context) => Promise<AdminContext>,
  parseBody: (ctx: Context, next: () => Promise<void>) => Promise<void>,
): void {
  for (const route of routes) {
    const koaPath = route.path.replace(/\{(\w+)\}/g, ':$1');
    router[route.method](koaPath, async (ctx) => {
      const context = await authenticate(ctx);
      const upload = route.body && route.bodyType !== undefined ? await readUpload(ctx, route.bodyType) : undefined;
      if (route.body && upload === undefined) await parseBody(ctx, () => Promise.resolve());
      const ifMatch = ctx.get('if-match');
      const request = {
        params: parsePart(route.params, ctx.params, 'path'),
        query: parsePart(route.query, ctx.query, 'query'),
        body: parsePart(route.body, upload ?? (ctx.request as { body?: unknown }).body ?? {}, 'body', { raw: upload !== undefined }),
        context,
        expectedVersion: route.conditional && ifMatch ? parseIfMatch(ifMatch) : undefined,
        koa: ctx,
      };
      const result: unknown = await route.handler(request);
      ctx.set('Cache-Control', 'no-store');
      if (isRaw(result)) {
        ctx.type = result.type;
        if (result.filename) ctx.attachment(result.filename);
        ctx.body = result.raw;
        return;
      }
      ctx.status = route.status ?? (route.response ? 200 : 204);
      if (!route.response) return;
      const body = isVersioned(result) ? result.body : result;
      if (isVersioned(result)) ctx.set('ETag', etagOf(result.version));
      // Output validation: a field the schema does not name (a password hash, say) never leaves.
      const pieces = jsonPieces(route.response, body);
      if (pieces === undefined) {
        ctx.body = route.response.parse(body);
        return;
      }
      ctx.type = 'application/json';
      ctx.body = Readable.from(pieces);
    });
  }
}

/** A list longer than this is validated and sent a slice at a time (see jsonPieces). */
const longList = 1000;
const sliceLength = 500;

const isPlainArray = (schema: z.ZodType): schema is z.ZodArray => schema instanceof z.ZodArray && !schema.def.checks?.length;

/**
 * Output validation for a body with a long list, such as the import's report of 100,000 rows: the
 * same parse, applied to the list a slice at a time, giving the JSON text in pieces. Parsed whole,
 * the report was copied once, made one 9 MB string, and sent through a buffer twice that size.
 * Undefined for any other body, which is parsed whole; so is a schema that checks more than its
 * fields (a refinement, a catch-all), whose parse a walk of its fields would not repeat.
 */
export function jsonPieces(schema: z.ZodType, value: unknown): string[] | undefined {
  if (!(schema instanceof z.ZodObject) || schema.def.catchall !== undefined || schema.def.checks?.length) return undefined;
  if (typeof value !== 'object' || value === null) return undefined;
  const shape: Record<string, z.ZodType> = schema.shape;
  const fields = Object.entries(shape);
  const record = value as Record<string, unknown>;
  const isLongList = (field: z.ZodType, item: unknown): item is unknown[] => isPlainArray(field) && Array.isArray(item) && item.length > longList;
  if (!fields.some(([key, field]) => isLongList(field, record[key]))) return undefined;
  const pieces: string[] = [];
  for (const [key, field] of fields) {
    const item = record[key];
    const opening = `${pieces.length === 0 ? '{' : ','}${JSON.stringify(key)}:`;
    if (!isLongList(field, item)) {
      const text = JSON.stringify(field.parse(item)) as string | undefined;
      if (text !== undefined) pieces.push(`${opening}${text}`);
      continue;
    }
    const { element } = field as z.ZodArray;
    pieces.push(`${opening}[`);
    for (let start = 0; start < item.length; start += sliceLength) {
      const slice = JSON.stringify(item.slice(start, start + sliceLength).map((member) => z.parse(element, member)));
      pieces.push(`${start === 0 ? '' : ','}${slice.slice(1, -1)}`);
    }
    pieces.push(']');
  }
  pieces.push('}');
  return pieces;
}

/** Query strings carry text: these read it as the types the routes want. */
export const queryInt = (min: number, max: number, fallback: number) =>
  z.coerce.number().int().min(min).max(max).default(fallback);

export const listLimit = queryInt(1, 200, 50);

export function listOf<T extends z.ZodType>(item: T) {
  return z.object({ items: z.array(item), next: z.string().nullable().describe('the cursor of the next page; null on the last one') });
}

/** Opaque cursors: base64url JSON, so clients cannot depend on what is inside. */
export function encodeCursor(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

export function decodeCursor<T extends z.ZodType>(cursor: string | undefined, schema: T): z.output<T> | undefined {
  if (cursor === undefined) return undefined;
  try {
    const parsed = schema.safeParse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')));
    if (parsed.success) return parsed.data;
  } catch {
    // fall through to the error below
  }
  throw invalidCursor();
}

/** A page of rows fetched with one extra, to know whether there is a next page. */
export function page<Row, Item>(rows: readonly Row[], limit: number, toItem: (row: Row) => Item, cursorOf: (row: Row) => unknown) {
  const more = rows.length > limit;
  const shown = more ? rows.slice(0, limit) : rows;
  return { items: shown.map(toItem), next: more ? encodeCursor(cursorOf(shown[shown.length - 1]!)) : null };
}
