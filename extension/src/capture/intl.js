/**
 * What the browser's own locale data (ECMA-402 `Intl`, CLDR underneath) says about a page's numbers and
 * money: how many decimals a currency is written with, which character groups thousands in a locale, and
 * which symbols a currency is shown with in a locale. Every answer is cached per (locale, currency) and
 * falls back to "unknown" for a locale tag a page made up (Intl throws a RangeError on those).
 */

const cache = new Map();
function memo(key, fn) {
  if (!cache.has(key)) {
    let v = null;
    try { v = fn(); } catch { v = null; }
    if (cache.size > 500) cache.clear();
    cache.set(key, v);
  }
  return cache.get(key);
}

/** A BCP 47 tag from a page's lang/og:locale ("en_GB" -> "en-GB"), or '' when it is not one. */
export function localeTag(raw) {
  const m = String(raw || '').trim().replace(/_/g, '-').match(/^([a-z]{2,3})(?:-([a-z]{4}))?(?:-([a-z]{2}|\d{3}))?(?:-|$)/i);
  if (!m) return '';
  return [m[1].toLowerCase(), m[2] ? m[2][0].toUpperCase() + m[2].slice(1).toLowerCase() : '', m[3] ? m[3].toUpperCase() : ''].filter(Boolean).join('-');
}

/** The number of decimals a currency's prices are written with in a locale (0 for JPY, CLP, ISK, HUF ...), or null. */
export function currencyDigits(code, locale = 'en') {
  return memo(`d|${locale}|${code}`, () => new Intl.NumberFormat(locale || 'en', { style: 'currency', currency: code }).resolvedOptions().maximumFractionDigits);
}

/**
 * The thousands separator of a locale's prices ("." in de/es/it/pt-BR, "," in en, a space in fr/sv/pl, "'" in
 * de-CH), or null. Money may group unlike other numbers (CLDR's currencyGroup: de-AT writes "1.299,00 €").
 */
export function groupSeparator(locale) {
  if (!locale) return null;
  return memo(`g|${locale}`, () => {
    const part = new Intl.NumberFormat(locale, { style: 'currency', currency: 'EUR' }).formatToParts(12345.5).find((p) => p.type === 'group');
    return part ? part.value.replace(/[\u00a0\u202f]/g, ' ') : null;
  });
}

/** The decimal separator of a locale ("," or "."), or null. */
export function decimalSeparator(locale) {
  if (!locale) return null;
  return memo(`s|${locale}`, () => new Intl.NumberFormat(locale).formatToParts(1.5).find((p) => p.type === 'decimal')?.value ?? null);
}

const symKey = (s) => String(s || '').replace(/[\s\u00a0.]+/g, '').toLowerCase();

/**
 * Whether `marker` (as written next to a price: "$", "kr", "kr.", "Rs", "R", "лв.") is how `code` is shown in
 * `locale` (its symbol or narrow symbol): "$" is CLP in es-CL and CAD in en-CA, "kr." is DKK in da-DK.
 */
export function symbolMatches(marker, code, locale) {
  const want = symKey(marker);
  if (!want || !code) return false;
  const syms = memo(`y|${locale}|${code}`, () => {
    const out = new Set();
    for (const display of ['symbol', 'narrowSymbol']) {
      const part = new Intl.NumberFormat(locale || 'en', { style: 'currency', currency: code, currencyDisplay: display })
        .formatToParts(1).find((p) => p.type === 'currency');
      if (part) out.add(symKey(part.value));
    }
    return out;
  });
  return !!syms && syms.has(want);
}

/**
 * Locales a page from country `cc` is written in: the page's own language with that region, then the
 * country's most likely language (Intl.Locale's likely subtags: "und-CL" -> "es-CL", "und-TW" -> "zh-TW").
 */
export function countryLocales(cc, lang = '') {
  const region = String(cc || '').toUpperCase();
  if (!/^[A-Z]{2}$/.test(region)) return [];
  return memo(`l|${region}|${lang}`, () => {
    const out = [];
    const base = String(lang || '').toLowerCase().match(/^[a-z]{2,3}/)?.[0];
    if (base) out.push(`${base}-${region}`);
    try {
      const likely = new Intl.Locale(`und-${region}`).maximize();
      const tag = `${likely.language}-${region}`;
      if (!out.includes(tag)) out.push(tag);
    } catch { /* an engine without Intl.Locale */ }
    return out;
  }) || [];
}
