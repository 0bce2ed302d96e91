import type { Context } from 'koa';

import { translator } from '../i18n/catalog.ts';
import type { MessageKey } from '../i18n/catalog.ts';
import type { ProviderPages } from '../oidc/provider.ts';
import { pageContext } from './page.ts';
import type { Views } from './views.ts';

/** The logout, signed-out, error and device-flow pages that oidc-provider asks for, in Mekong ID's look and language. */
export function createProviderPages(views: Views): ProviderPages {
  const render = (ctx: Context, view: string, data: (t: ReturnType<typeof translator>) => Record<string, unknown>) => {
    const page = pageContext(ctx);
    ctx.type = 'html';
    ctx.body = views.render(view, page, data(translator(page.locale)));
  };
  return {
    logout: (ctx, providerForm) => render(ctx, 'logout', (t) => ({ title: t('logout.title'), providerForm })),
    loggedOut: (ctx) => render(ctx, 'logged-out', (t) => ({ title: t('logout.done.title') })),
    error: (ctx, out) =>
      render(ctx, 'error', (t) => ({
        title: t('error.title'),
        message: out.error === 'server_error' ? t('error.server') : t('error.body'),
        code: out.error,
        // Protocol errors explain themselves to the app's developer, in the protocol's language.
        detail: out.error === 'server_error' ? null : (out.error_description ?? null),
        requestId: ctx.response.get('x-request-id') || null,
      })),
    deviceCodeInput: (ctx, form, problem) =>
      render(ctx, 'device-code', (t) => ({
        title: t('device.title'),
        ...form,
        problem: problem ? t(`device.problem.${problem}` satisfies MessageKey) : null,
      })),
    deviceCodeConfirm: (ctx, form, clientName) => render(ctx, 'device-confirm', (t) => ({ title: t('device.confirm.title'), ...form, clientName })),
    deviceDone: (ctx, clientName) =>
      render(ctx, 'message', (t) => ({ title: t('device.done.title'), heading: t('device.done.title'), body: t('device.done.body', { app: clientName }) })),
  };
}
