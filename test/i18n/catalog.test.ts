import fs from 'node:fs';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

import { isLocale, isMessageKey, locales, negotiateLocale, translator } from '../../src/i18n/catalog.ts';

describe('negotiateLocale', () => {
  it('falls back to Vietnamese when nothing is asked for', () => {
    expect(negotiateLocale({})).toBe('vi');
  });

  it('lets the person\u2019s own switch (the cookie) beat the app\u2019s ui_locales and Accept-Language', () => {
    expect(negotiateLocale({ uiLocales: 'en', cookie: 'vi', acceptLanguage: 'en' })).toBe('vi');
    expect(negotiateLocale({ uiLocales: 'vi', cookie: 'en', acceptLanguage: 'vi' })).toBe('en');
  });

  it('lets the app\u2019s ui_locales beat Accept-Language when the person has not chosen', () => {
    expect(negotiateLocale({ uiLocales: 'en', acceptLanguage: 'vi' })).toBe('en');
    expect(negotiateLocale({ uiLocales: 'vi', acceptLanguage: 'en' })).toBe('vi');
  });

  it('takes the first supported language of ui_locales, skipping unknown ones', () => {
    expect(negotiateLocale({ uiLocales: 'fr-FR  en-GB vi', acceptLanguage: 'vi' })).toBe('en');
  });

  it('lets the cookie beat Accept-Language when ui_locales names nothing supported', () => {
    expect(negotiateLocale({ uiLocales: 'fr de', cookie: 'en', acceptLanguage: 'vi' })).toBe('en');
    expect(negotiateLocale({ cookie: 'vi', acceptLanguage: 'en' })).toBe('vi');
  });

  it('ignores a cookie that is not a supported locale', () => {
    expect(negotiateLocale({ cookie: 'fr', acceptLanguage: 'en' })).toBe('en');
    expect(negotiateLocale({ cookie: '<script>', acceptLanguage: 'en' })).toBe('en');
  });

  it('respects Accept-Language q-values rather than order', () => {
    expect(negotiateLocale({ acceptLanguage: 'vi;q=0.5, en;q=0.9' })).toBe('en');
    expect(negotiateLocale({ acceptLanguage: 'en;q=0.4, vi' })).toBe('vi');
  });

  it('skips a language the browser refuses with q=0', () => {
    expect(negotiateLocale({ acceptLanguage: 'en;q=0, fr' })).toBe('vi');
  });

  it('matches a regional tag such as en-US to en', () => {
    expect(negotiateLocale({ acceptLanguage: 'en-US,en;q=0.9' })).toBe('en');
    expect(negotiateLocale({ acceptLanguage: 'fr-FR, EN-us;q=0.8' })).toBe('en');
    expect(negotiateLocale({ uiLocales: 'en-US' })).toBe('en');
  });

  it('falls back to Vietnamese for unknown languages and garbage', () => {
    expect(negotiateLocale({ acceptLanguage: 'fr-FR, de;q=0.8, *;q=0.1' })).toBe('vi');
    expect(negotiateLocale({ uiLocales: 'xx', cookie: 'yy', acceptLanguage: ';;;,,q=abc' })).toBe('vi');
  });
});

describe('translator', () => {
  it('substitutes parameters in Vietnamese and English', () => {
    expect(translator('vi')('login.to_app', { app: 'Cổng dịch vụ công' })).toBe('để tiếp tục vào Cổng dịch vụ công');
    expect(translator('en')('login.to_app', { app: 'Cổng dịch vụ công' })).toBe('to continue to Cổng dịch vụ công');
  });

  it('substitutes a parameter literally, without interpreting replacement patterns', () => {
    expect(translator('en')('consent.signed_in_as', { user: '$& $1 {user}' })).toBe('You are signed in as $& $1 {user}.');
  });

  it('leaves a placeholder visible when its parameter is missing', () => {
    expect(translator('en')('consent.intro')).toBe('{app} would like to:');
  });

  it('answers in the language asked for', () => {
    expect(translator('vi')('login.title')).toBe('Đăng nhập');
    expect(translator('en')('login.title')).toBe('Sign in');
  });
});

describe('the catalogs', () => {
  // The catalogs themselves are not exported; the keys are read from the module's source and each
  // is checked through the public translator, so a key present in one language only is caught at run
  // time as well as by the compiler.
  const source = fs.readFileSync(fileURLToPath(new URL('../../src/i18n/catalog.ts', import.meta.url)), 'utf8');
  const keysInSource = [...source.matchAll(/^\s+'([a-z_.]+)':/gm)].map((match) => match[1]!);
  const keys = [...new Set(keysInSource)].filter(isMessageKey);
  const placeholders = (text: string) => [...text.matchAll(/\{(\w+)\}/g)].map((match) => match[1]).sort();

  it('list the same keys in Vietnamese and English', () => {
    expect(keys.length).toBeGreaterThan(10);
    // Every key appears exactly twice in the source, once per catalog, and each is a Vietnamese key.
    expect(keysInSource).toHaveLength(keys.length * locales.length);
    for (const key of keys) {
      for (const locale of locales) {
        expect(translator(locale)(key), `${locale} ${key}`).not.toBe('');
      }
    }
  });

  it('use the same placeholders in both languages', () => {
    for (const key of keys) {
      expect(placeholders(translator('en')(key)), key).toEqual(placeholders(translator('vi')(key)));
    }
  });

  it('say every refusal and form problem in Vietnamese with its diacritics, not in a copy of the English', () => {
    const problems = keys.filter((key) => /^(problem|form\.problem|developers\.problem)\./.test(key));
    expect(problems.length).toBeGreaterThan(100);
    for (const key of problems) {
      const vi = translator('vi')(key);
      expect(vi, key).not.toBe(translator('en')(key));
      expect(vi, key).toMatch(/[ăâđêôơưáàảãạéèẻẽẹíìỉĩịóòỏõọúùủũụýỳỷỹỵ]/iu);
    }
  });

  it('have every entry that an error or a form problem of the source names', () => {
    // The compiler checks these too (localizable takes a MessageKey); this catches a key built at run time.
    const sources = fs.globSync('src/**/*.ts', { cwd: fileURLToPath(new URL('../..', import.meta.url)) });
    const named = sources.flatMap((file) => {
      const text = fs.readFileSync(fileURLToPath(new URL(`../../${file}`, import.meta.url)), 'utf8');
      return [...text.matchAll(/'((?:form\.)?problem\.[a-z_.]+)'/g)].map((match) => match[1]!);
    });
    expect(named.length).toBeGreaterThan(100);
    expect(named.filter((key) => !isMessageKey(key))).toEqual([]);
    for (const verb of ['suspend', 'disable']) expect(isMessageKey(`problem.user.${verb}_outside_scope`)).toBe(true);
  });

  it('know only vi and en as locales', () => {
    expect(locales).toEqual(['vi', 'en']);
    expect(isLocale('vi')).toBe(true);
    expect(isLocale('fr')).toBe(false);
    expect(isMessageKey('login.title')).toBe(true);
    expect(isMessageKey('toString')).toBe(false);
  });
});
