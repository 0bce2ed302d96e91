import fs from 'node:fs';
import { fileURLToPath } from 'node:url';

import { Eta } from 'eta';

import { formatDateTime, locales, translator, type Locale, type Translate } from '../i18n/catalog.ts';
import type { LocalizedMessage } from '../errors.ts';

const viewsDirectory = fileURLToPath(new URL('../../views', import.meta.url));

/** What every page receives; templates escape everything they print unless marked raw (`<%~`). */
export interface PageContext {
  readonly locale: Locale;
  /** The current URL with the other language chosen; null where switching makes no sense (a POST result). */
  readonly switchLanguageUrl: string | null;
}

export interface Views {
  render(name: string, page: PageContext, data: Record<string, unknown>): string;
  /** Static assets by file name, read once at start-up. */
  readonly assets: ReadonlyMap<string, Buffer>;
}

export function createViews(): Views {
  const eta = new Eta({ views: viewsDirectory, autoEscape: true, cache: true, autoTrim: false });
  const translators = new Map<Locale, Translate>(locales.map((locale) => [locale, translator(locale)]));
  const assets = new Map(
    fs.readdirSync(`${viewsDirectory}/static`).map((name) => [name, fs.readFileSync(`${viewsDirectory}/static/${name}`)]),
  );
  return {
    render(name, page, data) {
      const t = translators.get(page.locale)!;
      return eta.render(name, {
        ...data,
        t,
        /** A line carrying its words both ways (errors.ts `said`): the page's language when it has a catalog entry. */
        say: (line: { message: string; localized?: LocalizedMessage | undefined }) => (line.localized ? t(line.localized.key, line.localized.params) : line.message),
        /** A time as people in the province read it: their language, Vietnam's time zone. */
        time: (date: Date) => formatDateTime(page.locale, date),
        locale: page.locale,
        otherLocale: page.locale === 'vi' ? 'en' : 'vi',
        switchLanguageUrl: page.switchLanguageUrl,
      });
    },
    assets,
  };
}

/** The same URL with `lang` set to the other language. */
export function switchLanguageUrl(url: string, locale: Locale): string {
  const parsed = new URL(url, 'http://x');
  parsed.searchParams.set('lang', locale === 'vi' ? 'en' : 'vi');
  return `${parsed.pathname}${parsed.search}`;
}
