import { bodyParser } from '@koa/bodyparser';
import busboy from 'busboy';
import type { Context, Next } from 'koa';

import { findNulCharacter } from '../db/nul-characters.ts';
import { AppError, invalidInput } from '../errors.ts';

/**
 * The body parser of every page form (sign-in, account recovery, the account console): urlencoded
 * only, 16 kB at most (a passkey's answer fits many times over), and no NUL character anywhere,
 * since PostgreSQL cannot store one and nobody types one.
 */
export function formBody() {
  const parse = bodyParser({ enableTypes: ['form'], formLimit: '16kb' });
  return (ctx: Context, next: Next) =>
    parse(ctx, async () => {
      const field = findNulCharacter((ctx.request as { body?: unknown }).body, 'form');
      if (field) throw invalidInput(`${field}: text cannot contain the NUL character (U+0000)`);
      await next();
    });
}

/**
 * For a console's router: no NUL character in the path (a parameter such as /admin/users/:id) or
 * the query, where the form checks above never look. PostgreSQL cannot store one, so a NUL that
 * reached a query was a 500; no id, name or filter of ours holds one, so it is the caller's mistake.
 */
export async function refuseNulInUrl(ctx: Context, next: Next): Promise<void> {
  if (/%00/i.test(ctx.path)) throw invalidInput('path: text cannot contain the NUL character (U+0000)');
  const field = findNulCharacter(ctx.query, 'query');
  if (field) throw invalidInput(`${field}: text cannot contain the NUL character (U+0000)`);
  await next();
}

export interface UploadedFile {
  readonly name: string;
  readonly content: Buffer;
}

/**
 * The body parser of a page form that uploads one file (multipart/form-data), such as the import
 * wizard's CSV: the file's bytes in `body.file`, the other fields beside it as text. A file over
 * `maxBytes`, a second file, or a field with a NUL character is refused, saying which.
 */
export function uploadBody(options: { maxBytes: number }) {
  return async (ctx: Context, next: Next): Promise<void> => {
    if (!ctx.is('multipart/form-data')) {
      throw new AppError('unsupported_media_type', 'this form sends a file: post it as multipart/form-data', 415);
    }
    const fields: Record<string, string> = {};
    let file: UploadedFile | undefined;
    await new Promise<void>((resolve, reject) => {
      let parser: busboy.Busboy;
      try {
        parser = busboy({ headers: ctx.req.headers, limits: { files: 1, fileSize: options.maxBytes, fields: 20, fieldSize: 16 * 1024 } });
      } catch (error) {
        reject(invalidInput(`the upload cannot be read: ${(error as Error).message}`));
        return;
      }
      parser.on('field', (name, value) => {
        fields[name] = value;
      });
      parser.on('file', (_name, stream, info) => {
        const chunks: Buffer[] = [];
        stream.on('data', (chunk: Buffer) => chunks.push(chunk));
        stream.on('limit', () => reject(new AppError('payload_too_large', `the file is larger than ${Math.round(options.maxBytes / 1024 / 1024)} MB`, 413)));
        stream.on('end', () => {
          file = { name: (info.filename ?? 'upload.csv').normalize('NFC').slice(0, 200), content: Buffer.concat(chunks) };
        });
      });
      parser.on('filesLimit', () => reject(invalidInput('send one file at a time')));
      parser.on('error', (error: Error) => reject(invalidInput(`the upload cannot be read: ${error.message}`)));
      parser.on('close', resolve);
      ctx.req.pipe(parser);
    });
    const field = findNulCharacter(fields, 'form');
    if (field) throw invalidInput(`${field}: text cannot contain the NUL character (U+0000)`);
    (ctx.request as { body?: unknown }).body = { ...fields, ...(file ? { file } : {}) };
    await next();
  };
}
