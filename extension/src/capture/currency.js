/**
 * Currency symbols and names -> ISO 4217, using page context (html lang, og:locale, host TLD,
 * priceCurrency elsewhere on the page) where a symbol is shared by several currencies.
 */

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

/** Symbols that are unambiguous. */
const UNAMBIGUOUS = [
  ['€', 'EUR'], ['£', 'GBP'], ['₹', 'INR'], ['₽', 'RUB'], ['₴', 'UAH'], ['₺', 'TRY'], ['₩', 'KRW'], ['₪', 'ILS'],
  ['฿', 'THB'], ['₫', 'VND'], ['₱', 'PHP'], ['₦', 'NGN'], ['₸', 'KZT'], ['₾', 'GEL'], ['₼', 'AZN'],
  ['R$', 'BRL'], ['US$', 'USD'], ['U$S', 'USD'], ['CA$', 'CAD'], ['C$', 'CAD'], ['A$', 'AUD'], ['AU$', 'AUD'],
  ['NZ$', 'NZD'], ['HK$', 'HKD'], ['S$', 'SGD'], ['NT$', 'TWD'], ['MX$', 'MXN'], ['RD$', 'DOP'], ['zł', 'PLN'],
  ['Kč', 'CZK'], ['Ft', 'HUF'], ['lei', 'RON'], ['лв', 'BGN'], ['руб', 'RUB'], ['р.', 'RUB'], ['грн', 'UAH'],
  ['Rp', 'IDR'], ['RM', 'MYR'], ['ر.س', 'SAR'], ['ريال', 'SAR'], ['د.إ', 'AED'], ['درهم', 'AED'], ['ج.م', 'EGP'],
  ['د.ك', 'KWD'], ['ر.ق', 'QAR'], ['kn', 'HRK'], ['TL', 'TRY'], ['Fr.', 'CHF'], ['SFr', 'CHF'], ['円', 'JPY'],
  ['元', 'CNY'], ['원', 'KRW'], ['₮', 'MNT'], ['৳', 'BDT'], ['₲', 'PYG'], ['₭', 'LAK'], ['៛', 'KHR'], ['Bs', 'BOB'], ['S/', 'PEN'], ['Gs', 'PYG'], ['₡', 'CRC'],
];

function countryFromContext(ctx) {
  const out = [];
  const push = (c) => { if (c && !out.includes(c)) out.push(c); };
  for (const loc of [ctx.ogLocale, ctx.lang]) {
    const m = String(loc || '').toLowerCase().match(/^([a-z]{2,3})(?:[-_]([a-z]{2}))?/);
    if (m && m[2]) push(m[2]);
  }
  const host = String(ctx.host || '').toLowerCase();
  const tld = host.split('.').pop();
  if (tld && tld.length === 2) push(tld);
  for (const loc of [ctx.ogLocale, ctx.lang]) {
    const m = String(loc || '').toLowerCase().match(/^([a-z]{2,3})/);
    if (m && LANG_COUNTRY[m[1]]) push(LANG_COUNTRY[m[1]]);
  }
  return out;
}

const DOLLAR_LIKE = ['USD', 'CAD', 'AUD', 'NZD', 'MXN', 'CLP', 'ARS', 'COP', 'UYU', 'SGD', 'HKD', 'TWD', 'DOP', 'BRL'];

/** The first currency of the page's countries that is among `family`, else `fallback`. */
function fromFamily(ctx, family, fallback) {
  for (const c of countryFromContext(ctx)) {
    const cur = COUNTRY_CURRENCY[c];
    if (family.includes(cur)) return cur;
  }
  return fallback;
}

const dollar = (ctx) => fromFamily(ctx, DOLLAR_LIKE, 'USD'); // "$": the dollar or peso of the page's country
const kronor = (ctx) => fromFamily(ctx, ['SEK', 'DKK', 'NOK', 'ISK'], 'SEK');
const yen = (ctx) => fromFamily(ctx, ['JPY', 'CNY'], 'JPY');
const rupee = (ctx) => fromFamily(ctx, ['INR', 'PKR', 'LKR', 'NPR'], 'INR');

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
  const s = String(text || '');
  const codeMatch = s.match(/(?:^|[^A-Za-z])([A-Z]{3})(?![A-Za-z])/);
  if (codeMatch && ISO_CODES.has(codeMatch[1])) return codeMatch[1];
  for (const [sym, iso] of UNAMBIGUOUS) {
    if (/^[A-Za-z]/.test(sym)) {
      const re = new RegExp(`(^|[^A-Za-z])${sym.replace(/[.$/]/g, '\\$&')}(?![A-Za-z])`, sym === 'lei' ? 'i' : '');
      if (re.test(s)) return iso;
    } else if (s.includes(sym)) {
      return iso;
    }
  }
  // Local currency words in Cyrillic, as whole words ("44 890 тг.", not "отгрузка").
  if (/(^|[^а-яё])(тг|тенге)(?![а-яё])/i.test(s)) return 'KZT';
  if (/(^|[^A-Za-z])(rs\.?|rupees?)(?![A-Za-z])/i.test(s)) return rupee(ctx);
  if (/(^|[^A-Za-z])(kr\.?|kronor|kroner|krónur)(?![A-Za-z])/i.test(s)) return kronor(ctx);
  if (/[¥￥]/.test(s)) return yen(ctx);
  if (/\$/.test(s)) return ctx.pageCurrency && ISO_CODES.has(ctx.pageCurrency) && /\$|dollar|peso/i.test(s)
    && isDollarLike(ctx.pageCurrency) ? ctx.pageCurrency : dollar(ctx);
  if (/(^|[^A-Za-z])(euros?|eur)(?![A-Za-z])/i.test(s)) return 'EUR';
  if (/(^|[^A-Za-z])(dollars?)(?![A-Za-z])/i.test(s)) return dollar(ctx);
  if (/(^|[^A-Za-z])(pounds?)(?![A-Za-z])/i.test(s)) return 'GBP';
  if (/(^|[^A-Za-z])R(?=\s?\d)/.test(s) && countryFromContext(ctx).includes('za')) return 'ZAR';
  return null;
}

function isDollarLike(iso) {
  return DOLLAR_LIKE.includes(iso);
}

/** The currency a page's country most likely uses (last resort when a price has no marker at all). */
export function currencyFromContext(ctx = {}) {
  for (const c of countryFromContext(ctx)) if (COUNTRY_CURRENCY[c]) return COUNTRY_CURRENCY[c];
  return null;
}
