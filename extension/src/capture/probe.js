/**
 * The cheap first look every page gets: does this page look like it belongs to shopping (a shop's
 * product, listing, cart, checkout or order page, a shop search, a comparison or review page)?
 * Only then is the analyser (index.js, ~100 KB) loaded into the tab. A false "yes" costs one
 * analyser run that finds nothing; a false "no" loses the page, so every signal the analyser can
 * act on is a "yes" here: shopping URLs, schema.org/OpenGraph product markup, add-to-cart controls,
 * price elements and a price next to the main heading. Native selector queries only, no layout,
 * bounded text reads. Pure: takes a Document and URL, touches no extension API.
 */
import { detectSearch, isPriceComparison } from './search.js';
import { isCartUrl } from './cart.js';
import { isCheckoutUrl } from './checkout.js';
import { isPurchaseUrl } from './purchase.js';
import { COMPARE_PATH } from './compare.js';
import { isReviewUrl } from './review.js';
import { ACTION_PATTERNS } from './patterns.js';

const LD_OFFER = /"@type"\s*:\s*\[?\s*"(?:https?:\/\/schema\.org\/)?(?:Offer|AggregateOffer|Order)"|"offers"\s*:|"price"\s*:/;
const LD_PRODUCT = /"@type"\s*:\s*\[?\s*"(?:https?:\/\/schema\.org\/)?(?:Product|ProductGroup|ProductModel|IndividualProduct|Vehicle|Car|Book|ItemList)"/;
const LD_ARTICLE = /"@type"\s*:\s*\[?\s*"(?:https?:\/\/schema\.org\/)?(?:\w*Article|BlogPosting|LiveBlogPosting|Report)"/;
const OFFER_MARKUP = [
  '[itemtype*="schema.org/Offer" i]', '[itemtype*="schema.org/AggregateOffer" i]', '[itemtype*="schema.org/Order" i]',
  '[itemprop=price]', '[property="itemprop:price"]', 'meta[property^="product:price" i]', 'meta[property^="og:price:" i]',
  'meta[property^="twitter:data1" i]',
].join(',');
const PRODUCT_MARKUP = '[itemtype*="schema.org/Product" i], [typeof~="Product" i], [typeof*="schema:Product" i], meta[property^="product:" i]';
const ARTICLE_META = 'meta[property^="article:" i], meta[property="og:type" i][content^="article" i], [itemtype*="Article" i], [itemtype*="BlogPosting" i]';
/** Elements that say "price" in their class or id, in the languages the visible-price fallback reads. */
// No i flag (a case-insensitive regex with non-ASCII words is costly to compile): the usual spellings.
const PRICE_WORD = /price|Price|PRICE|preis|Preis|prix|Prix|precio|Precio|prezzo|preco|preço|prijs|cijena|hinta|fiyat|цена|ціна/;
const PRICE_ATTR = '[price], [data-price], [data-product-price], [data-sku], [data-product-id]';
const CART_FORM = 'form[action*="cart" i], form[action*="basket" i], form[action*="warenkorb" i], form[action*="panier" i], form[action*="carrito" i], [name*="add-to-cart" i], [name*="addtocart" i]';
const CONTROLS = 'button, input[type=submit], input[type=button], input[type=image], [role=button]';
/** An amount with a currency marker next to it (symbol, ISO code or local currency word). */
const MONEY = /(?:[€£$¥₹₽₴₺₩₪฿₫₱₸₦]|\b(?:[A-Z]{3}|zł|kr|Kč|Ft|lei|Rs\.?|R\$|kn|TL|CHF|RM|Rp)\b)\s?\d|\d[\d.,'\s\u00a0]*\s?(?:[€£$¥₹₽₴₺₩₪฿₫₱₸₦円元원]|(?:zł|kr|Kč|Ft|lei|Lei|Rs|kn|Kn|TL|CHF|EUR|USD|GBP|PLN|SEK|NOK|DKK|CZK|HUF|RON|руб|грн|лв|тг|сом|so'm|ر\.س|د\.إ)(?![\p{L}]))/u;

export function shoppingUrl(url) {
  let u;
  try { u = new URL(url); } catch { return null; }
  if (!/^https?:$/.test(u.protocol)) return null;
  // detectSearch compiles its patterns on first use: only when the URL can hold a search at all.
  if ((u.search || u.hash.includes('?') || /search|such|recherch|busca|ricerca|zoek|szukaj|catalogsearch/i.test(u.pathname))
    && detectSearch(url)) return 'search-url';
  if (isPriceComparison(url)) return 'price-comparison';
  if (isPurchaseUrl(url) || isCheckoutUrl(url) || isCartUrl(url)) return 'order-url';
  if (COMPARE_PATH.test(u.pathname.toLowerCase()) || isReviewUrl(url)) return 'compare-or-review-url';
  return null;
}

/** A page that declares itself an article and offers nothing: no further look (see shoppingReason). */
const ARTICLE = 'article';

/**
 * Offers, prices or an order in the markup: a shop page. A Product alone is weaker: paywalled news
 * declares itself "part of" a Product (the subscription), so it counts only on a page that does not
 * declare itself an article.
 */
export function productMarkup(doc) {
  if (doc.querySelector(OFFER_MARKUP)) return 'offer-markup';
  const ogType = doc.querySelector('meta[property="og:type" i]');
  if (ogType && /product/i.test(ogType.getAttribute('content') || '')) return 'og-product';
  let product = !!doc.querySelector(PRODUCT_MARKUP);
  let article = !!doc.querySelector(ARTICLE_META);
  let n = 0;
  for (const s of doc.querySelectorAll('script[type="application/ld+json" i]')) {
    if (++n > 30) break;
    // Regexes over the raw text: no JSON parse here (the analyser parses, leniently, when it runs).
    const text = (s.textContent || '').slice(0, 200_000);
    if (LD_OFFER.test(text)) return 'offer-markup';
    product ||= LD_PRODUCT.test(text);
    article ||= LD_ARTICLE.test(text);
  }
  if (article) return ARTICLE;
  return product ? 'product-markup' : null;
}

/**
 * All add-to-cart phrases of action-patterns.json as one regex over the lower-cased signature (one
 * test per control, not one per phrase). No `i`/`u` flags and no \p{L}: compiling a large
 * case-insensitive Unicode regex costs more than the whole probe.
 */
const NOT_LETTER = '[^a-z\\u00c0-\\u024f\\u0370-\\u03ff\\u0400-\\u04ff]';
let cartRe = null;
function cartRegex() {
  if (!cartRe) {
    const esc = (p) => p.toLowerCase().replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/ /g, '[\\s\\u00a0]+');
    // Short phrases ("buy", "kaufen") only as whole words, as patterns.js matches them.
    const alt = ACTION_PATTERNS.cart_add.map((p) => (p.length <= 6 && !/[^\p{L} ]/u.test(p) ? `(?:^|${NOT_LETTER})${esc(p)}(?:$|${NOT_LETTER})` : esc(p)));
    cartRe = new RegExp(alt.join('|'));
  }
  return cartRe;
}

export function cartControls(doc) {
  if (doc.querySelector(CART_FORM)) return 'cart-form';
  const re = cartRegex();
  let n = 0;
  for (const el of doc.querySelectorAll(CONTROLS)) {
    if (++n > 300) break;
    const sig = `${el.getAttribute('aria-label') || ''}|${el.getAttribute('value') || ''}|${el.id}|${el.getAttribute('class') || ''}|${el.getAttribute('name') || ''}|${el.children.length <= 6 ? (el.textContent || '').slice(0, 80) : ''}`;
    if (re.test(sig.toLowerCase())) return 'cart-control';
  }
  return null;
}

/**
 * An element whose class or id says "price", or a price attribute (price="44890"). One pass in JS:
 * a case-insensitive substring selector per word costs far more in the browser's selector engine.
 */
export function priceElement(doc) {
  if (doc.querySelector(PRICE_ATTR)) return 'price-element';
  const all = doc.body ? doc.body.getElementsByTagName('*') : [];
  const n = Math.min(all.length, 20000);
  for (let i = 0; i < n; i++) {
    const el = all[i];
    const cls = el.getAttribute('class');
    if ((cls && PRICE_WORD.test(cls)) || (el.id && PRICE_WORD.test(el.id))) return 'price-element';
  }
  return null;
}

/** A short text that is only an amount with its currency ("44 890 тг.", "$ 99.00", "1.299,- €"). */
const isPriceText = (t) => t.length <= 30 && MONEY.test(t) && t.replace(/[\d\s\u00a0.,'\-–:]/g, '').length <= 4;

/**
 * A price shown right after the main heading, as its own short text (shops without markup, price
 * elements or buttons we know). Reads at most 80 text nodes in document order after the first h1.
 */
export function priceNearHeading(doc) {
  const h1 = doc.querySelector('h1');
  if (!h1 || !doc.body) return null;
  const walker = doc.createTreeWalker(doc.body, 4 /* NodeFilter.SHOW_TEXT */);
  walker.currentNode = h1;
  for (let i = 0; i < 80; i++) {
    const node = walker.nextNode();
    if (!node) break;
    const t = node.nodeValue.trim();
    if (t && isPriceText(t)) return 'price-near-heading';
  }
  return null;
}

/**
 * @param {Document} doc
 * @param {string} url
 * @returns {string|null} why the page looks like shopping (for tests and the bench), or null
 */
export function shoppingReason(doc, url) {
  // Cheapest first: the URL, then native selector queries, then bounded reads of a few texts.
  const byUrl = shoppingUrl(url);
  if (byUrl) return byUrl;
  // A page that declares itself an article (og:type, article:* meta, an Article node) and has no
  // offer markup is not a shop page: that verdict is final, and it is the common case.
  const markup = productMarkup(doc);
  if (markup) return markup === ARTICLE ? null : markup;
  return priceElement(doc) || priceNearHeading(doc) || cartControls(doc);
}
