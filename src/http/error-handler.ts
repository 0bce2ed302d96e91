import type { Context, Next } from 'koa';

import { isDatabaseUnavailable } from '../db/errors.ts';
import { AppError, messageIn } from '../errors.ts';
import { translator, type MessageKey } from '../i18n/catalog.ts';
import type { Logger } from '../logger.ts';
import { pageContext } from './page.ts';
import { scimContentType, scimErrorBody, scimPrefix } from './scim/errors.ts';
import type { Views } from './views.ts';

/** Error codes whose page can say something more useful than "something went wrong". */
const friendlyMessages: Record<string, MessageKey> = {
  csrf_failed: 'error.csrf',
  session_expired: 'error.session_expired',
  interaction_step_mismatch: 'error.session_expired',
  not_found: 'error.not_found',
  busy: 'error.busy',
  forbidden: 'error.forbidden',
  unavailable: 'error.busy',
};

/** What to say for a client's error whose own message is not for the client's eyes (`expose` unset). */
const statusMessages: Record<number, string> = {
  400: 'the request could not be read',
  413: 'the body is larger than this endpoint accepts',
  415: 'the media type or Content-Encoding of the body is not one this endpoint accepts',
};

const databaseUnavailable = () =>
  new AppError('unavailable', 'the service cannot reach its database just now; try again in a few seconds', 503, { expose: true });

/**
 * A request body sent gzip-, deflate- or br-encoded that does not inflate fails in zlib, whose
 * errors know nothing of HTTP: a plain Error with a numeric errno and a code, Z_DATA_ERROR and the
 * like for zlib, ERR__ERROR_FORMAT_… for brotli. Nothing else on a request's path decompresses
 * anything, so such an error can only mean a corrupt body.
 */
function isDecompressionError(caught: unknown): boolean {
  const { errno, code, status } = (caught ?? {}) as { errno?: unknown; code?: unknown; status?: unknown };
  return caught instanceof Error && status === undefined && typeof errno === 'number' && typeof code === 'string' && /^(Z_|ERR__)/.test(code);
}

/**
 * Koa middleware (the body parser) reports a client's mistake, such as malformed JSON or a body
 * over the limit, as an error with a 4xx status: that is the client's problem, said in the client's
 * terms, not a server error (Koa's own convention). Its message is repeated only when the error says
 * it may be (`expose`): inflation's "Unsupported Content-Encoding", say, has status 415 and no `expose`.
 */
function fromHttpError(caught: unknown): AppError | null {
  const { status, expose, message } = (caught ?? {}) as { status?: unknown; expose?: unknown; message?: unknown };
  if (isDecompressionError(caught)) return new AppError('invalid_input', 'the body does not decompress as its Content-Encoding says it should', 400);
  if (typeof status !== 'number' || status < 400 || status >= 500 || typeof message !== 'string') return null;
  // co-body marks malformed JSON 400 without `expose`; the parser's message is safe to repeat.
  if (caught instanceof SyntaxError) return new AppError('invalid_input', `the body is not valid JSON: ${message}`, 400);
  const wireCode = status === 413 ? 'payload_too_large' : status === 415 ? 'unsupported_media_type' : 'invalid_input';
  return new AppError(wireCode, expose === true ? message : statusMessages[status] ?? statusMessages[400]!, status);
}

/**
 * The one error handler for Mekong ID's own routes (oidc-provider renders its own through
 * `renderError`). An AppError below 500 is shown as it is; anything else is a 500 that reveals
 * nothing and is logged in full with the request id. JSON or HTML by what the client accepts.
 */
export function errorHandler(views: Views, logger: Logger) {
  return async function handleErrors(ctx: Context, next: Next): Promise<void> {
    try {
      await next();
      if (ctx.respond !== false && ctx.status === 404 && ctx.body == null) throw new AppError('not_found', `no route for ${ctx.method} ${ctx.path}`, 404);
    } catch (caught) {
      const unavailable = !(caught instanceof AppError) && isDatabaseUnavailable(caught);
      const error = caught instanceof AppError ? (caught.expose ? caught : null) : unavailable ? databaseUnavailable() : fromHttpError(caught);
      const requestId = String(ctx.state['requestId'] ?? '');
      if (!error) logger.error({ err: caught, requestId, method: ctx.method, path: ctx.path }, 'unhandled error');
      if (unavailable) {
        // The database is down or restarting: a condition to wait out, not a bug. Say so, and when to retry.
        logger.warn({ err: caught, requestId, method: ctx.method, path: ctx.path }, 'database unavailable');
        ctx.set('Retry-After', '5');
      }
      const status = error?.status ?? 500;
      const code = error?.code ?? 'server_error';
      const message = error?.message ?? 'the server had a problem; the request id identifies it in the logs';

      ctx.status = status;
      if (ctx.path === scimPrefix || ctx.path.startsWith(`${scimPrefix}/`)) {
        ctx.type = scimContentType;
        ctx.body = scimErrorBody(error, status, message);
        return;
      }
      // The API speaks JSON whatever the client accepts; pages negotiate.
      if (ctx.path.startsWith('/api/') || ctx.accepts('html', 'json') === 'json') {
        ctx.body = { error: code, message, request_id: requestId };
        return;
      }
      const page = pageContext(ctx);
      const t = translator(page.locale);
      ctx.type = 'html';
      // The page speaks the person's language; the English message is for JSON clients and logs.
      // An error that says itself in the catalog (a refusal, a form's problem) is shown in the page's
      // language; a refusal without that still shows its English, as it says what would have to change.
      const said = error?.localized ? messageIn(t, error) : null;
      ctx.body = views.render('error', page, {
        title: t('error.title'),
        message: said !== null && code !== 'forbidden' ? said : t(friendlyMessages[code] ?? (error ? 'error.body' : 'error.server')),
        code,
        detail: code === 'forbidden' ? said ?? message : null,
        requestId,
      });
    }
  };
}
