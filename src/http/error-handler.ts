import type { Context, Next } from 'koa';

import { AppError } from '../errors.ts';
import { translator, type MessageKey } from '../i18n/catalog.ts';
import type { Logger } from '../logger.ts';
import { pageContext } from './page.ts';
import type { Views } from './views.ts';

/** Error codes whose page can say something more useful than "something went wrong". */
const friendlyMessages: Record<string, MessageKey> = {
  csrf_failed: 'error.csrf',
  session_expired: 'error.session_expired',
  interaction_step_mismatch: 'error.session_expired',
  not_found: 'error.not_found',
  busy: 'error.busy',
};

/**
 * Koa middleware (the body parser) reports a client's mistake, such as malformed JSON or a body
 * over the limit, as an http-errors error with a 4xx status and `expose`: that is the client's
 * problem, said in the client's terms, not a server error.
 */
function fromHttpError(caught: unknown): AppError | null {
  const { status, expose, message } = (caught ?? {}) as { status?: unknown; expose?: unknown; message?: unknown };
  if (typeof status !== 'number' || status < 400 || status >= 500 || typeof message !== 'string') return null;
  // co-body marks malformed JSON 400 without `expose`; the parser's message is safe to repeat.
  if (caught instanceof SyntaxError) return new AppError('invalid_input', `the body is not valid JSON: ${message}`, 400);
  if (expose !== true) return null;
  const code = status === 413 ? 'payload_too_large' : status === 415 ? 'unsupported_media_type' : 'invalid_input';
  return new AppError(code, message, status);
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
      const error = caught instanceof AppError ? (caught.expose ? caught : null) : fromHttpError(caught);
      const requestId = String(ctx.state['requestId'] ?? '');
      if (!error) logger.error({ err: caught, requestId, method: ctx.method, path: ctx.path }, 'unhandled error');
      const status = error?.status ?? 500;
      const code = error?.code ?? 'server_error';
      const message = error?.message ?? 'the server had a problem; the request id identifies it in the logs';

      ctx.status = status;
      // The API speaks JSON whatever the client accepts; pages negotiate.
      if (ctx.path.startsWith('/api/') || ctx.accepts('html', 'json') === 'json') {
        ctx.body = { error: code, message, request_id: requestId };
        return;
      }
      const page = pageContext(ctx);
      const t = translator(page.locale);
      ctx.type = 'html';
      ctx.body = views.render('error', page, {
        title: t('error.title'),
        message: t(friendlyMessages[code] ?? (error ? 'error.body' : 'error.server')),
        code,
        // The page speaks the person's language; the English message is for JSON clients and logs.
        detail: null,
        requestId,
      });
    }
  };
}
