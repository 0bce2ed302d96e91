import { bodyParser } from '@koa/bodyparser';
import type { Context, Next } from 'koa';

import { findNulCharacter } from '../db/nul-characters.ts';
import { invalidInput } from '../errors.ts';

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
