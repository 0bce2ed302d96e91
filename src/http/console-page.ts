import type { Context } from 'koa';

import type { BuiltInConsole } from '../domain/built-in-clients.ts';
import { isMessageKey, translator, type MessageKey, type Translate } from '../i18n/catalog.ts';
import { csrfToken } from './csrf.ts';
import { pageContext } from './page.ts';
import type { Views } from './views.ts';

export interface ConsoleSection {
  readonly path: string;
  readonly label: MessageKey;
}

/**
 * A page of one of Mekong ID's consoles: the person's language, the console's sections with the
 * current one marked, the sign-out form, and the notice a change came back with (?done=x shows
 * `<console>.done.x` when the catalog has it; anything else in that slot is ignored). Never cached.
 */
export function renderConsolePage(
  views: Views,
  ctx: Context,
  console: { readonly home: BuiltInConsole['home']; readonly sections: readonly ConsoleSection[] },
  view: string,
  title: MessageKey,
  data: Record<string, unknown> | ((t: Translate) => Record<string, unknown>),
): void {
  const page = pageContext(ctx);
  const t = translator(page.locale);
  const noticeKey = `${console.home.slice(1)}.done.${String(ctx.query['done'])}`;
  ctx.type = 'html';
  ctx.set('Cache-Control', 'no-store');
  ctx.body = views.render(view, page, {
    title: t(title),
    csrfToken: csrfToken(ctx),
    wide: true,
    nav: console.sections.map((section) => ({ href: section.path, label: t(section.label), current: section.path === ctx.path })),
    logoutAction: `${console.home}/logout`,
    logoutLabel: t('account.nav.logout'),
    notice: typeof ctx.query['done'] === 'string' && isMessageKey(noticeKey) ? t(noticeKey) : null,
    ...(typeof data === 'function' ? data(t) : data),
  });
}
