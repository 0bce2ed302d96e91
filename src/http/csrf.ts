import { randomBytes, timingSafeEqual } from 'node:crypto';

import type { Context, Next } from 'koa';

import { AppError } from '../errors.ts';

/**
 * Over https the cookie carries the __Host- prefix: the browser then refuses it unless it is Secure,
 * for this exact host and path /, so a sibling subdomain cannot plant a token of its choosing.
 */
const cookieName = (ctx: Context) => (ctx.secure ? '__Host-mekong.csrf' : 'mekong.csrf');

/**
 * Double-submit CSRF protection for every form we render: a random token in a signed, HttpOnly
 * cookie and the same token in a hidden field. A cross-site page can make the browser send the
 * cookie but can neither read it nor forge its signature, so it cannot fill in the field.
 */
export function csrfToken(ctx: Context): string {
  const existing = ctx.cookies.get(cookieName(ctx), { signed: true });
  if (existing) return existing;
  const token = randomBytes(32).toString('base64url');
  ctx.cookies.set(cookieName(ctx), token, { httpOnly: true, sameSite: 'lax', secure: ctx.secure, signed: true, path: '/' });
  return token;
}

export async function requireCsrfToken(ctx: Context, next: Next): Promise<void> {
  if (ctx.method !== 'GET' && ctx.method !== 'HEAD') {
    const expected = ctx.cookies.get(cookieName(ctx), { signed: true });
    const body = (ctx.request as { body?: Record<string, unknown> }).body;
    const presented = typeof body?.['_csrf'] === 'string' ? body['_csrf'] : '';
    if (!expected || !sameToken(expected, presented)) {
      throw new AppError('csrf_failed', 'the form is missing its CSRF token or the token does not match', 403);
    }
  }
  await next();
}

function sameToken(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}
