/**
 * schema.org helpers shared by the JSON-LD and microdata extractors: type tests and normalisation
 * of a Product-like node (name, brand, sku, offers/AggregateOffer/priceSpecification) into the
 * gesture's product shape.
 */
import { clean } from './dom.js';
import { parsePrice } from './price.js';
import { currencyMarker, normalizeCurrency } from './currency.js';

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
  if (typeof f === 'object') return clean(f.name ?? f['@value'] ?? f.value ?? '', max);
  return clean(f, max);
}

function brandOf(node) {
  for (const key of ['brand', 'manufacturer']) {
    const b = textOf(node[key], 120);
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

/** Flatten offers: Offer, AggregateOffer (lowPrice/offers[]), arrays, priceSpecification. */
export function offersOf(node, depth = 0) {
  const out = [];
  if (!node || depth > 4) return out;
  const list = Array.isArray(node) ? node : [node];
  for (const o of list.slice(0, 200)) {
    if (!o || typeof o !== 'object') continue;
    const types = typesOf(o);
    const cur = textOf(o.priceCurrency, 10) || textOf(o.priceSpecification?.priceCurrency ?? first(o.priceSpecification)?.priceCurrency, 10);
    let price = o.price ?? first(o.priceSpecification)?.price;
    if (price === undefined || price === null || price === '') {
      if (types.includes('aggregateoffer') || o.lowPrice !== undefined) price = o.lowPrice ?? o.highPrice;
    }
    if (typeof price === 'object' && price !== null) price = price['@value'] ?? price.value;
    const value = typeof price === 'number' ? price : parsePriceMachine(price);
    if (value !== null) out.push({ price: value, currency: cur, raw: typeof price === 'string' ? price : '', availability: textOf(o.availability, 80) });
    if (o.offers) for (const inner of offersOf(o.offers, depth + 1)) if (!out.length || inner.currency) out.push(inner);
  }
  return out;
}

/** Machine-readable schema.org prices are "1234.56" but shops also write "1.234,56" or "19,99 €". */
export function parsePriceMachine(v) {
  if (v === null || v === undefined) return null;
  const s = String(v).trim();
  if (/^\d+(\.\d+)?$/.test(s)) return Math.round(Number(s) * 100) / 100;
  return parsePrice(s);
}

/** Normalise a Product-like schema.org node into the gesture product shape. */
export function productFromNode(node, ctx = {}) {
  const offers = offersOf(node.offers);
  // Prefer an in-stock offer with a price > 0; otherwise the first priced offer.
  const priced = offers.filter((o) => o.price > 0);
  const best = priced.find((o) => !/outofstock|discontinued/i.test(o.availability)) || priced[0] || offers[0];
  // A currency may only be written in the price text ("119,01 €") rather than priceCurrency.
  const declared = best?.currency ? normalizeCurrency(best.currency, ctx) : null;
  const marker = !declared && best?.raw ? currencyMarker(best.raw, ctx) : { iso: null, how: null };
  const pageCurrency = declared || marker.iso;
  const product = {
    name: textOf(node.name, 200),
    brand: brandOf(node),
    price: best ? best.price : null,
    currency: pageCurrency,
    category_hint: textOf(node.category, 200),
    sku: skuOf(node),
    // How the currency was decided (kept on the device for the benchmark; not part of the gesture).
    currency_from: declared ? 'markup' : marker.iso ? `markup price text (${marker.how})` : null,
  };
  return product;
}
