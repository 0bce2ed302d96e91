import type { Context } from 'koa';

import { isLocale, negotiateLocale, type Locale } from '../i18n/catalog.ts';
import { switchLanguageUrl, type PageContext } from './views.ts';

export const languageCookie = 'mekong.lang';

/**
 * The language of the page for this request, remembering an explicit switch (`?lang=en`) in a cookie.
 * Works on any Koa context: ours, and oidc-provider's for the pages it asks us to render.
 */
export function pageContext(ctx: Context, uiLocales?: string): PageContext {
  const chosen = ctx.query['lang'];
  if (isLocale(chosen)) {
    ctx.cookies.set(languageCookie, chosen, {
      httpOnly: true,
      sameSite: 'lax',
      secure: ctx.secure,
      maxAge: 365 * 24 * 60 * 60 * 1000,
      signed: false,
    });
  }
  const locale: Locale = isLocale(chosen)
    ? chosen
    : negotiateLocale({
        uiLocales,
        cookie: ctx.cookies.get(languageCookie, { signed: false }),
        acceptLanguage: ctx.get('accept-language'),
      });
  return { locale, switchLanguageUrl: ctx.method === 'GET' ? switchLanguageUrl(ctx.url, locale) : null };
}
