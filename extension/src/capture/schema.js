/**
 * schema.org helpers shared by the JSON-LD and microdata extractors: type tests and normalisation
 * of a Product-like node (name, brand, sku, offers/AggregateOffer/priceSpecification) into the
 * gesture's product shape.
 */
import { clean } from './dom.js';
import { parsePrice, threeDecimals } from './price.js';
import { currencyMarker, normalizeCurrency } from './currency.js';
import { currencyDigits, groupSeparator, localeTag } from './intl.js';

export const PRODUCT_TYPES = new Set(['product', 'productgroup', 'productmodel', 'individualproduct',
  'vehicle', 'car', 'motorizedbicycle', 'book', 'drug', 'dietarysupplement']);
export const ARTICLE_TYPES = new Set(['article', 'newsarticle', 'blogposting', 'socialmediaposting', 'report',
  'scholarlyarticle', 'techarticle', 'liveblogposting', 'opinionnewsarticle', 'reportagenewsarticle',
  'analysisnewsarticle', 'backgroundnewsarticle', 'reviewnewsarticle', 'askpublicnewsarticle', 'satiricalarticle',
  'advertisercontentarticle', 'medicalscholarlyarticle', 'discussionforumposting', 'posting', 'blog']);

/** Lower-case local names of a node's @type ("http://schema.org/Product" -> "product"). */
export function typesOf(node) {
  if (!node || typeof node !== 'object') return [];
  let t = node['@type'] ?? node.type;
  if (!Array.isArray(t)) t = [t];
  return t.filter((x) => typeof x === 'string').map((x) => x.split(/[/#:]/).pop().toLowerCase());
}

export const isProductNode = (n) => typesOf(n).some((t) => PRODUCT_TYPES.has(t));
export const isArticleNode = (n) => typesOf(n).some((t) => ARTICLE_TYPES.has(t));

function first(v) {
  if (Array.isArray(v)) { for (const x of v) { const f = first(x); if (f !== null && f !== undefined && f !== '') return f; } return null; }
  return v;
}

/** Text value of a property that may be a string, number, array or {name}/{"@value"} object. */
export function textOf(v, max = 200) {
  const f = first(v);
  if (f === null || f === undefined) return '';
  if (typeof f === 'object') {
    const v = f.name ?? f['@value'] ?? f.value ?? '';
    return typeof v === 'object' && v !== null ? textOf(v, max) : clean(v, max);
  }
  return clean(f, max);
}

function brandOf(node, resolve = (v) => v) {
  for (const key of ['brand', 'manufacturer']) {
    const raw = node[key];
    const b = textOf(Array.isArray(raw) ? raw.map(resolve) : resolve(raw), 120);
    if (b && !/^(brand|n\/a|na|none|null|undefined|no brand|-)$/i.test(b) && !/^https?:|[${}<>]|^\W+$/.test(b)) return b;
  }
  return '';
}

/** An identifier, not a phrase: no spaces between words, and (unless it is the declared sku) a digit. */
export function isSkuLike(v, declared = false) {
  if (!v || v.length > 60 || /[${}<>]/.test(v)) return false;
  if (/\s/.test(v) && !v.split(/\s+/).every((t) => /\d/.test(t))) return false;
  return declared || /\d/.test(v);
}

function skuOf(node) {
  for (const key of ['sku', 'mpn', 'productID', 'productId', 'gtin13', 'gtin', 'gtin14', 'gtin12', 'gtin8', 'isbn']) {
    const v = textOf(node[key], 80).replace(/^(sku|isbn|ean|gtin|mpn)\s*:\s*/i, '');
    if (v && isSkuLike(v, key === 'sku' || key === 'productID')) return v;
  }
  return '';
}

/** A price specification that states a list, strike-through or recommended price rather than the price to pay. */
const LIST_PRICE_TYPE = /(listprice|strikethroughprice|srp|msrp|recommended|rrp|wasprice|originalprice|invoiceprice|minimumadvertisedprice)/i;

/** The price to pay in a priceSpecification (object or array): a sale or untyped spec before a list price. */
function specPrice(spec) {
  const list = (Array.isArray(spec) ? spec : [spec]).filter((x) => x && typeof x === 'object');
  const pay = list.filter((x) => !LIST_PRICE_TYPE.test(textOf(x.priceType, 80)) && x.price !== undefined && x.price !== null && x.price !== '');
  const sale = pay.find((x) => /sale/i.test(textOf(x.priceType, 80)));
  return sale || pay[0] || null;
}

/** Flatten offers: Offer, AggregateOffer (lowPrice/offers[]), arrays, priceSpecification. */
export function offersOf(node, depth = 0, ctx = {}, resolve = (v) => v) {
  const out = [];
  if (!node || depth > 4) return out;
  const list = Array.isArray(node) ? node : [node];
  for (const ref of list.slice(0, 200)) {
    // An offer may be a reference ({"@id": "#offer"}) to a node stated elsewhere in the page's @graph.
    const o = resolve(ref);
    if (!o || typeof o !== 'object') continue;
    const types = typesOf(o);
    const spec = o.priceSpecification ? specPrice(o.priceSpecification) : null;
    const cur = textOf(o.priceCurrency, 10) || textOf(spec?.priceCurrency ?? first(o.priceSpecification)?.priceCurrency, 10);
    let price = o.price;
    if (spec && (price === undefined || price === null || price === '')) price = spec.price;
    const aggregate = types.includes('aggregateoffer');
    const num = (v) => (typeof v === 'object' && v !== null ? v['@value'] ?? v.value : v);
    const low = o.lowPrice !== undefined && o.lowPrice !== null && o.lowPrice !== '' ? parsePriceMachine(num(o.lowPrice), { currency: cur, ...ctx }) : null;
    if (price === undefined || price === null || price === '') {
      if (aggregate || low !== null) price = o.lowPrice ?? o.highPrice;
    }
    price = num(price);
    let value = typeof price === 'number' && !Number.isFinite(price) ? null : parsePriceMachine(price, { currency: cur, ...ctx });
    // An offer that states both a price and a lower lowPrice shows the list price and the sale price.
    if (value !== null && low !== null && low > 0 && low < value) value = low;
    // A list-price spec next to the offer's own price: the offer's price is the one to pay, unless it
    // equals the list price and a sale spec is lower.
    if (value !== null && spec && o.price !== undefined) {
      const sp = parsePriceMachine(num(spec.price), { currency: cur, ...ctx });
      if (sp !== null && sp > 0 && sp < value && /sale/i.test(textOf(spec.priceType, 80))) value = sp;
    }
    if (value !== null) out.push({ price: value, currency: cur, raw: typeof price === 'string' ? price : '', availability: textOf(o.availability, 80) });
    if (o.offers) for (const inner of offersOf(o.offers, depth + 1, ctx, resolve)) if (!out.length || inner.currency) out.push(inner);
  }
  return out;
}

/**
 * Currencies whose prices are written without cents although CLDR (and so Intl) gives them two decimals:
 * their cash has no minor unit in use (CLDR's cashDigits, which Intl does not expose).
 */
const CASH_WHOLE = new Set(['KHR', 'MNT', 'UZS', 'KZT', 'TZS', 'CRC', 'ARS', 'TWD', 'HUF', 'COP', 'IDR']);

/** Whether prices in `currency` have no decimals (Intl: JPY, CLP, KRW, VND, ISK, PKR ...; plus CASH_WHOLE). */
export function wholeUnit(currency, locale = '') {
  const cur = String(currency || '').toUpperCase();
  if (!/^[A-Z]{3}$/.test(cur)) return false;
  return CASH_WHOLE.has(cur) || currencyDigits(cur, 'en') === 0 || (!!locale && currencyDigits(cur, locale) === 0);
}

/**
 * Machine-readable schema.org prices are "1234.56" but shops also write "1.234,56", "19,99 €" or, for a
 * currency without cents or in a locale that groups thousands with "." (Intl: de, es, it, pt-BR, tr ...),
 * "2.449" meaning 2449.
 */
export function parsePriceMachine(v, ctx = {}) {
  if (v === null || v === undefined) return null;
  const s = String(v).trim();
  const m = s.match(/^(\d{1,3})\.(\d{3})$/);
  if (m) {
    const cur = String(ctx.currency || '').toUpperCase();
    const locale = localeTag(ctx.lang || '');
    if (wholeUnit(cur, locale) || (!threeDecimals(cur) && m[2].at(-1) !== '0' && groupSeparator(locale) === '.')) return Number(m[1] + m[2]);
  }
  if (/^\d+(\.\d+)?$/.test(s)) return Math.round(Number(s) * 100) / 100;
  return parsePrice(s, { currency: ctx.currency });
}

/** Normalise a Product-like schema.org node into the gesture product shape. */
export function productFromNode(node, ctx = {}) {
  // The offers are the node's own, or those of an Offer that names it as its itemOffered (an Offer at the
  // top of the page's JSON-LD, the product inside it).
  const raw = node.offers ?? (ctx.offersFor ? ctx.offersFor(node) : undefined);
  const offers = offersOf(raw, 0, { lang: ctx.lang || ctx.ogLocale || '' }, ctx.resolve);
  // Prefer an in-stock offer with a price > 0; otherwise the first priced offer.
  const priced = offers.filter((o) => o.price > 0);
  const best = priced.find((o) => !/outofstock|discontinued/i.test(o.availability)) || priced[0] || offers[0];
  // An AggregateOffer may state its currency only on the offers inside it.
  if (best && !best.currency) best.currency = (offers.find((o) => o.currency && o.price === best.price) || offers.find((o) => o.currency))?.currency || '';
  // A currency may only be written in the price text ("119,01 €") rather than priceCurrency.
  const declared = best?.currency ? normalizeCurrency(best.currency, ctx) : null;
  const marker = !declared && best?.raw ? currencyMarker(best.raw, ctx) : { iso: null, how: null };
  const pageCurrency = declared || marker.iso;
  const product = {
    name: textOf(node.name, 200),
    brand: brandOf(node, ctx.resolve),
    price: best ? best.price : null,
    currency: pageCurrency,
    category_hint: textOf(node.category, 200),
    sku: skuOf(node),
    // How the currency was decided (kept on the device for the benchmark; not part of the gesture).
    currency_from: declared ? 'markup' : marker.iso ? `markup price text (${marker.how})` : null,
  };
  return product;
}
