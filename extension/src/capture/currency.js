/**
 * Currency symbols and names -> ISO 4217, using page context (html lang, og:locale, host TLD,
 * priceCurrency elsewhere on the page) where a symbol is shared by several currencies.
 */

import { countryLocales, symbolMatches } from './intl.js';

const ISO = /^[A-Z]{3}$/;

/** Known ISO codes we accept when a page writes the code itself ("CHF 19.50", "EUR"). */
export const ISO_CODES = new Set(('AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD ' +
  'BTN BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS ' +
  'GIP GMD GNF GTQ GYD HKD HNL HRK HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD ' +
  'KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD ' +
  'OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SYP SZL ' +
  'THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XOF XPF YER ZAR ZMW ZWL').split(' '));

/** Country (ISO 3166 alpha-2, lower case) -> currency. */
const COUNTRY_CURRENCY = {
  us: 'USD', ca: 'CAD', au: 'AUD', nz: 'NZD', mx: 'MXN', cl: 'CLP', ar: 'ARS', co: 'COP', uy: 'UYU', br: 'BRL',
  sg: 'SGD', hk: 'HKD', tw: 'TWD', gb: 'GBP', uk: 'GBP', ie: 'EUR', jp: 'JPY', cn: 'CNY', in: 'INR', pk: 'PKR',
  lk: 'LKR', np: 'NPR', se: 'SEK', dk: 'DKK', no: 'NOK', is: 'ISK', ch: 'CHF', li: 'CHF', pl: 'PLN', cz: 'CZK',
  hu: 'HUF', ro: 'RON', bg: 'BGN', ru: 'RUB', ua: 'UAH', by: 'BYN', tr: 'TRY', il: 'ILS', kr: 'KRW', th: 'THB',
  vn: 'VND', ph: 'PHP', my: 'MYR', id: 'IDR', za: 'ZAR', sa: 'SAR', ae: 'AED', eg: 'EGP', ng: 'NGN', ke: 'KES',
  hr: 'EUR', rs: 'RSD', pe: 'PEN', bo: 'BOB', py: 'PYG', ec: 'USD', pr: 'USD', do: 'DOP', gt: 'GTQ', cr: 'CRC',
  de: 'EUR', at: 'EUR', fr: 'EUR', es: 'EUR', it: 'EUR', pt: 'EUR', nl: 'EUR', be: 'EUR', lu: 'EUR', fi: 'EUR',
  gr: 'EUR', sk: 'EUR', si: 'EUR', ee: 'EUR', lv: 'EUR', lt: 'EUR', mt: 'EUR', cy: 'EUR', kw: 'KWD', qa: 'QAR',
  bh: 'BHD', om: 'OMR', jo: 'JOD', ma: 'MAD', kz: 'KZT', ge: 'GEL', am: 'AMD', mo: 'MOP',
};

/** Language (no region) -> most likely country, for "$"/"kr"/"¥" disambiguation only. */
const LANG_COUNTRY = {
  sv: 'se', da: 'dk', nb: 'no', nn: 'no', no: 'no', is: 'is', ja: 'jp', zh: 'cn', pl: 'pl', cs: 'cz', hu: 'hu',
  ro: 'ro', bg: 'bg', ru: 'ru', uk: 'ua', tr: 'tr', he: 'il', ko: 'kr', th: 'th', vi: 'vn', pt: 'br', ur: 'pk',
  hi: 'in', ms: 'my', id: 'id', ar: 'sa', de: 'de', fr: 'fr', it: 'it', es: 'es', nl: 'nl', fi: 'fi', el: 'gr',
  hr: 'hr', sr: 'rs', sk: 'sk', sl: 'si', lv: 'lv', lt: 'lt', et: 'ee',
};

/**
 * Markers that name one currency. Letters-only markers match as whole words (Unicode letters on either
 * side refuse them: "руб" is not inside "рубашка"); `num` ones only next to a number or alone ("р.",
 * "Ft", "đ", "元" are also parts of ordinary text); `ci` ones also in other cases next to a number
 * ("270,00 Kn", "LEI 45").
 */
const MARKERS = [
  ['€', 'EUR'], ['£', 'GBP'], ['₹', 'INR'], ['₽', 'RUB'], ['₴', 'UAH'], ['₺', 'TRY'], ['₩', 'KRW'], ['₪', 'ILS'],
  ['฿', 'THB'], ['₫', 'VND'], ['₱', 'PHP'], ['₦', 'NGN'], ['₸', 'KZT'], ['₾', 'GEL'], ['₼', 'AZN'], ['₮', 'MNT'],
  ['৳', 'BDT'], ['₲', 'PYG'], ['₭', 'LAK'], ['៛', 'KHR'], ['₡', 'CRC'], ['GH₵', 'GHS'], ['₵', 'GHS'],
  ['R$', 'BRL'], ['US$', 'USD'], ['U$S', 'USD'], ['CA$', 'CAD'], ['C$', 'CAD'], ['A$', 'AUD'], ['AU$', 'AUD'],
  ['NZ$', 'NZD'], ['HK$', 'HKD'], ['S$', 'SGD'], ['NT$', 'TWD'], ['MX$', 'MXN'], ['Mex$', 'MXN'], ['RD$', 'DOP'],
  ['N$', 'NAD'], ['E£', 'EGP'], ['CN¥', 'CNY'], ['JP¥', 'JPY'], ['RMB', 'CNY'],
  ['zł', 'PLN', 'ci'], ['zl', 'PLN', 'num'], ['Kč', 'CZK', 'ci'], ['Ft', 'HUF', 'num'], ['lei', 'RON', 'ci'], ['лв', 'BGN', 'ci'],
  ['рублей', 'RUB'], ['рубля', 'RUB'], ['рубль', 'RUB'], ['руб', 'RUB', 'ci'], ['р.', 'RUB', 'num'], ['грн', 'UAH', 'ci'],
  ['гривен', 'UAH'], ['тг', 'KZT', 'ci'], ['тенге', 'KZT'], ['сом', 'KGS', 'num'], ['сўм', 'UZS'], ['сум', 'UZS', 'num'],
  ['ман', 'AZN', 'num'], ['ден', 'MKD', 'num'], ['дин', 'RSD', 'num'], ['din', 'RSD', 'num'], ['лей', 'MDL', 'num'],
  ['KM', 'BAM', 'num'], ['Rp', 'IDR', 'ci'], ['RM', 'MYR'], ['ر.س', 'SAR'], ['ريال', 'SAR'], ['د.إ', 'AED'], ['درهم', 'AED'],
  ['ج.م', 'EGP'], ['د.ك', 'KWD'], ['ر.ق', 'QAR'], ['kn', 'HRK', 'ci'], ['TL', 'TRY'], ['Fr.', 'CHF'], ['SFr', 'CHF'],
  ['円', 'JPY', 'num'], ['원', 'KRW', 'num'], ['đ', 'VND', 'num'], ['KSh', 'KES'], ['FCFA', 'XAF'], ['CFA', 'XOF'],
  ['Tk', 'BDT', 'num'], ['টাকা', 'BDT'], ['Bs', 'BOB'], ['S/', 'PEN'], ['Gs', 'PYG', 'num'],
];
const esc = (x) => x.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
const COMPILED = MARKERS.map(([sym, iso, mode]) => {
  const e = esc(sym);
  const ci = mode === 'ci' ? 'i' : '';
  const hasLetter = /\p{L}/u.test(sym);
  const near = new RegExp(`\\d\\s?${e}(?!\\p{L})|(?<!\\p{L})${e}\\s?\\d`, `u${ci}`);
  const alone = new RegExp(`^${e}\\.?$`, 'ui');
  const word = hasLetter && mode !== 'num' ? new RegExp(`(?<!\\p{L})${e}(?!\\p{L})`, 'u') : null;
  return { sym, iso, hasLetter, near, alone, word };
});
/** Three-letter words that are ISO codes but mostly English: only a code when next to a number. */
const CODE_WORDS = new Set(['ALL', 'TOP', 'CUP', 'PEN', 'BOB', 'MOP', 'SOS', 'GEL', 'MAD', 'BAM', 'AMD', 'ANG', 'TRY', 'ERN', 'LSL', 'TMT']);

/**
 * The page's countries, most telling first: a country-code domain (a shop's template often keeps a default
 * en-US / en_US locale), the region of the locale in its URL ("ar-sa.shop.com", "/en-ca/") or of the
 * hreflang alternate that is this page, the region of og:locale / html lang, then the language's usual country.
 */
export function countryFromContext(ctx) {
  const out = [];
  const push = (c) => { if (c && !out.includes(c)) out.push(c); };
  // Except the ones sold as generic names (.co, .io, .me, .tv ...).
  const host = String(ctx.host || '').toLowerCase();
  const tld = host.split('.').pop();
  if (tld && tld.length === 2 && !VANITY_TLDS.has(tld)) push(tld);
  for (const loc of [ctx.urlLocale, ctx.hreflang, ctx.ogLocale, ctx.lang]) {
    const m = String(loc || '').toLowerCase().match(/^([a-z]{2,3})(?:[-_]([a-z]{2}))?/);
    if (m && m[2]) push(m[2]);
  }
  for (const loc of [ctx.ogLocale, ctx.lang]) {
    const m = String(loc || '').toLowerCase().match(/^([a-z]{2,3})/);
    if (m && LANG_COUNTRY[m[1]]) push(LANG_COUNTRY[m[1]]);
  }
  return out;
}

/**
 * A country's currency: the table above for the ones ISO 4217 does not name after the country (the euro
 * area, dollarised countries, the UK), else the current code that starts with the country code (ISO 4217
 * codes are the ISO 3166 country code and a letter: GTQ, HNL, MKD, BAM, ZMW ...).
 */
export function localCurrency(country) {
  const c = String(country || '').toLowerCase();
  if (COUNTRY_CURRENCY[c]) return COUNTRY_CURRENCY[c];
  if (!/^[a-z]{2}$/.test(c)) return null;
  const codes = [...ISO_CODES].filter((x) => x.startsWith(c.toUpperCase()) && !STALE_CODES.has(x));
  return codes.length === 1 ? codes[0] : null;
}
/** Codes that are not a country's everyday currency (replaced, or a fund/reserve unit beside the currency). */
const STALE_CODES = new Set(['HRK', 'SLL', 'VEF', 'MRO', 'STD', 'ZWL', 'CUC', 'BOV', 'CLF', 'COU', 'MXV', 'UYI', 'USN', 'CHE', 'CHW']);

const VANITY_TLDS = new Set(['co', 'io', 'me', 'tv', 'ai', 'fm', 'ly', 'gg', 'to', 'cc', 'ws', 'la', 'nu', 'sh', 'ac', 'vc', 'gd', 'im', 'app', 'eu']);

const DOLLAR_LIKE = ['USD', 'CAD', 'AUD', 'NZD', 'MXN', 'CLP', 'ARS', 'COP', 'UYU', 'SGD', 'HKD', 'TWD', 'DOP', 'BRL'];

/**
 * A symbol shared by several currencies: the page's declared currency if it is one of them, else the
 * currency of the first of the page's countries that is one of them or that the browser's locale data
 * shows with this very symbol in that country ("$" is CLP in es-CL, "kr." is ISK in is-IS), else `fallback`.
 */
function fromFamily(ctx, family, fallback, marker = '') {
  if (ctx.pageCurrency && family.includes(ctx.pageCurrency)) return ctx.pageCurrency;
  for (const c of countryFromContext(ctx)) {
    const cur = localCurrency(c);
    if (!cur) continue;
    if (family.includes(cur)) return cur;
    if (marker && countryLocales(c, ctx.lang || ctx.ogLocale).some((loc) => symbolMatches(marker, cur, loc))) return cur;
  }
  return fallback;
}

const dollar = (ctx) => fromFamily(ctx, DOLLAR_LIKE, 'USD', '$'); // "$": the dollar or peso of the page's country
const kronor = (ctx) => fromFamily(ctx, ['SEK', 'DKK', 'NOK', 'ISK'], 'SEK', 'kr');
const yen = (ctx) => fromFamily(ctx, ['JPY', 'CNY'], 'JPY', '¥');
const yuan = (ctx) => fromFamily(ctx, ['CNY', 'TWD', 'HKD', 'MOP', 'JPY'], 'CNY'); // 元 is also the Taiwan / Hong Kong dollar
const rupee = (ctx) => fromFamily(ctx, ['INR', 'PKR', 'LKR', 'NPR'], 'INR', 'Rs');

/**
 * A marker no table here names ("Q 150", "K 75", "L 200", "Br 99"): the page's own currency when the browser's
 * locale data shows it with that marker in the page's country. Only the page's countries are asked, so a
 * letter next to a number elsewhere ("L 200" on a clothing size) is never read as some foreign currency.
 */
function localMarker(s, ctx) {
  const m = s.match(/(?:^|[\s(])([^\d\s.,'()\-–—:;][^\d\s,'()\-–—:;]{0,4})\s?\d|\d\s?([^\d\s.,'()\-–—:;*][^\d\s,'()\-–—:;*]{0,4})(?:[\s)]|$)/u);
  const marker = m && (m[1] || m[2]);
  if (!marker) return null;
  for (const c of countryFromContext(ctx).slice(0, 3)) {
    const cur = localCurrency(c);
    if (cur && countryLocales(c, ctx.lang || ctx.ogLocale).some((loc) => symbolMatches(marker, cur, loc))) return cur;
  }
  return null;
}

/**
 * Normalise a currency as written on a page ("€", "zł", "kr", "CHF", "Rs.", "eur") to ISO 4217.
 * @param {string|null|undefined} raw
 * @param {{lang?: string, ogLocale?: string, host?: string, pageCurrency?: string}} [ctx]
 * @returns {string|null}
 */
export function normalizeCurrency(raw, ctx = {}) {
  if (raw === null || raw === undefined) return null;
  const s = String(raw).replace(/[\u00a0\s]+/g, ' ').trim();
  if (!s) return null;
  const upper = s.toUpperCase();
  if (ISO.test(upper) && ISO_CODES.has(upper)) return upper;
  return symbolToIso(s, ctx);
}

/** Find a currency marker inside a price string ("119,01 €", "CHF 19.50", "zł 12"). */
export function symbolToIso(text, ctx = {}) {
  return currencyMarker(text, ctx).iso;
}

/**
 * The currency a price string names, and how it was decided: `code` (an ISO code), `symbol` (a marker
 * of one currency), `symbol+locale` (a marker shared by several currencies: "$", "kr", "¥", "元", "Rs",
 * decided by the page's declared currency, domain, og:locale or html lang).
 * @returns {{iso: string|null, how: string|null}}
 */
export function currencyMarker(text, ctx = {}) {
  const s = String(text || '').replace(/[\u00a0\u202f\u2009]/g, ' ');
  const found = (iso, how) => ({ iso, how });
  const codeNear = s.match(/(?:^|[^A-Za-z])([A-Z]{3})\s?\d|\d\s?([A-Z]{3})(?![A-Za-z])/);
  const nearCode = codeNear && (codeNear[1] || codeNear[2]);
  // An English-looking code ("ALL", "TOP") only after a number or as the whole price ("12 ALL", "ALL 12").
  if (nearCode && ISO_CODES.has(nearCode) && (!CODE_WORDS.has(nearCode) || codeNear[2] || /^[A-Z]{3}\s?[\d.,' ]+$/.test(s.trim()))) return found(nearCode, 'code');
  for (const m of COMPILED) {
    if (m.hasLetter ? (m.near.test(s) || m.alone.test(s.trim()) || (m.word && m.word.test(s))) : s.includes(m.sym)) return found(m.iso, 'symbol');
  }
  for (const c of s.matchAll(/(?:^|[^A-Za-z])([A-Z]{3})(?![A-Za-z])/g)) {
    if (ISO_CODES.has(c[1]) && !CODE_WORDS.has(c[1])) return found(c[1], 'code');
  }
  const shared = (iso) => found(iso, 'symbol+locale');
  if (/\d\s?元|^\s*元\s*$/.test(s)) return shared(yuan(ctx));
  if (/(^|[^A-Za-z])(rs\.?|rupees?)(?![A-Za-z])|₨/i.test(s)) return shared(rupee(ctx));
  if (/(^|[^A-Za-z])(kr\.?|kronor|kroner|krónur)(?![A-Za-z])/i.test(s)) return shared(kronor(ctx));
  if (/[¥￥]/.test(s)) return shared(yen(ctx));
  if (/\$/.test(s)) return shared(dollar(ctx));
  if (/(^|[^A-Za-z])(euros?|eur)(?![A-Za-z])/i.test(s)) return found('EUR', 'symbol');
  if (/(^|[^A-Za-z])(dollars?)(?![A-Za-z])/i.test(s)) return shared(dollar(ctx));
  if (/(^|[^A-Za-z])(pounds?)(?![A-Za-z])/i.test(s)) return found('GBP', 'symbol');
  if (/(^|[^A-Za-z])R(?=\s?\d)/.test(s) && countryFromContext(ctx).includes('za')) return shared('ZAR');
  const local = localMarker(s, ctx);
  if (local) return shared(local);
  return { iso: null, how: null };
}


/** The currency a page's country most likely uses (last resort when a price has no marker at all). */
export function currencyFromContext(ctx = {}) {
  for (const c of countryFromContext(ctx)) if (localCurrency(c)) return localCurrency(c);
  return null;
}
