/**
 * The cheap first look every page gets: does this page look like it belongs to shopping (a shop's
 * product, listing, cart, checkout or order page, a shop search, a comparison or review page)?
 * Only then is the analyser (index.js, ~100 KB) loaded into the tab. A false "yes" costs one
 * analyser run that finds nothing; a false "no" loses the page, so every signal the analyser can
 * act on is a "yes" here: shopping URLs, schema.org/OpenGraph product markup, add-to-cart controls,
 * price elements and a price next to the main heading. Native selector queries only, no layout,
 * bounded text reads. Pure: takes a Document and URL, touches no extension API.
 */
// A named import of the one list (esbuild and vite drop the file's other lists from first.js); no JSON
// import attribute, which would allow only the default import. Nothing imports this file natively in Node.
import { cart_add as CART_ADD } from '../config/action-patterns.json';

const LD_OFFER = /"@type"\s*:\s*\[?\s*"(?:https?:\/\/schema\.org\/)?(?:Offer|AggregateOffer|Order)"|"offers"\s*:|"price"\s*:/;
const LD_PRODUCT = /"@type"\s*:\s*\[?\s*"(?:https?:\/\/schema\.org\/)?(?:Product|ProductGroup|ProductModel|IndividualProduct|Vehicle|Car|Book|ItemList)"/;
const LD_ARTICLE = /"@type"\s*:\s*\[?\s*"(?:https?:\/\/schema\.org\/)?(?:\w*Article|BlogPosting|LiveBlogPosting|Report)"/;
const mayOffer = (t) => t.includes('Offer"') || t.includes('Order"') || t.includes('"offers"') || t.includes('"price"');
const mayProduct = (t) => t.includes('Product') || t.includes('Vehicle"') || t.includes('Car"') || t.includes('Book"') || t.includes('ItemList"');
const mayArticle = (t) => t.includes('Article"') || t.includes('BlogPosting"') || t.includes('Report"');
// The markup look is XPath with primitive results (document.evaluate -> boolean/string/number): on the common page
// (an article) no element is handed to script, so the content-script world never builds wrappers and prototypes
// for the page's element types (measured: about a quarter of the first script's heap). Case-insensitive
// attribute matches lower-case with translate(), as the CSS `i` flag did.
const lc = (attr) => `translate(${attr},'ABCDEFGHIJKLMNOPQRSTUVWXYZ','abcdefghijklmnopqrstuvwxyz')`;
const OFFER_MARKUP = `boolean(//*[contains(${lc('@itemtype')},'schema.org/offer') or contains(${lc('@itemtype')},'schema.org/aggregateoffer')
  or contains(${lc('@itemtype')},'schema.org/order') or @itemprop='price' or @property='itemprop:price']
  | //meta[starts-with(${lc('@property')},'product:price') or starts-with(${lc('@property')},'og:price:') or starts-with(${lc('@property')},'twitter:data1')])`;
const OG_TYPE = `string(//meta[${lc('@property')}='og:type']/@content)`;
const PRODUCT_MARKUP = `boolean(//*[contains(${lc('@itemtype')},'schema.org/product') or contains(concat(' ',${lc('normalize-space(@typeof)')},' '),' product ')
  or contains(${lc('@typeof')},'schema:product')] | //meta[starts-with(${lc('@property')},'product:')])`;
const ARTICLE_META = `boolean(//meta[starts-with(${lc('@property')},'article:') or (${lc('@property')}='og:type' and starts-with(${lc('@content')},'article'))]
  | //*[contains(${lc('@itemtype')},'article') or contains(${lc('@itemtype')},'blogposting')])`;
const LD_SCRIPTS = `//script[${lc('@type')}='application/ld+json']`;
const xpath = (doc, expr, type) => doc.evaluate(expr, doc, null, type, null);
const xBool = (doc, expr) => xpath(doc, expr, 3 /* BOOLEAN_TYPE */).booleanValue;
const xString = (doc, expr) => xpath(doc, expr, 2 /* STRING_TYPE */).stringValue;
const xNumber = (doc, expr) => xpath(doc, expr, 1 /* NUMBER_TYPE */).numberValue;
/** Elements that say "price" in their class or id, in the languages the visible-price fallback reads. */
// No i flag (a case-insensitive regex with non-ASCII words is costly to compile): the usual spellings.
const PRICE_WORD = /price|Price|PRICE|preis|Preis|prix|Prix|precio|Precio|prezzo|preco|preço|prijs|cijena|hinta|fiyat|цена|ціна/;
const PRICE_ATTR = '[price], [data-price], [data-product-price], [data-sku], [data-product-id]';
const CART_FORM = 'form[action*="cart" i], form[action*="basket" i], form[action*="warenkorb" i], form[action*="panier" i], form[action*="carrito" i], [name*="add-to-cart" i], [name*="addtocart" i]';
const CONTROLS = 'button, input[type=submit], input[type=button], input[type=image], [role=button]';
/** An amount with a currency marker next to it (symbol, ISO code or local currency word). */
const MONEY = /(?:[€£$¥₹₽₴₺₩₪฿₫₱₸₦]|\b(?:[A-Z]{3}|zł|kr|Kč|Ft|lei|Rs\.?|R\$|kn|TL|CHF|RM|Rp)\b)\s?\d|\d[\d.,'\s\u00a0]*\s?(?:[€£$¥₹₽₴₺₩₪฿₫₱₸₦円元원]|(?:zł|kr|Kč|Ft|lei|Lei|Rs|kn|Kn|TL|CHF|EUR|USD|GBP|PLN|SEK|NOK|DKK|CZK|HUF|RON|руб|грн|лв|тг|сом|so'm|ر\.س|د\.إ)(?![\p{L}]))/u;

/** A page that declares itself an article and offers nothing: no further look (see shoppingReason). */
export const ARTICLE = 'article';

/**
 * Offers, prices or an order in the markup: a shop page. A Product alone is weaker: paywalled news
 * declares itself "part of" a Product (the subscription), so it counts only on a page that does not
 * declare itself an article.
 */
export function productMarkup(doc) {
  if (xBool(doc, OFFER_MARKUP)) return 'offer-markup';
  if (/product/i.test(xString(doc, OG_TYPE))) return 'og-product';
  let product = xBool(doc, PRODUCT_MARKUP);
  let article = xBool(doc, ARTICLE_META);
  const scripts = Math.min(30, xNumber(doc, `count(${LD_SCRIPTS})`));
  for (let i = 1; i <= scripts; i++) {
    // Regexes over the raw text: no JSON parse here (the analyser parses, leniently, when it runs).
    // Plain substring checks first (supersets of the regexes): most pages never compile or run these regexes.
    const text = xString(doc, `string((${LD_SCRIPTS})[${i}])`).slice(0, 200_000);
    if (mayOffer(text) && LD_OFFER.test(text)) return 'offer-markup';
    product ||= mayProduct(text) && LD_PRODUCT.test(text);
    article ||= mayArticle(text) && LD_ARTICLE.test(text);
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
    const alt = CART_ADD.map((p) => (p.length <= 6 && !/[^\p{L} ]/u.test(p) ? `(?:^|${NOT_LETTER})${esc(p)}(?:$|${NOT_LETTER})` : esc(p)));
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
 * The page half of the first look (no URL patterns): what first.js runs in every tab. The URL half
 * (shopping-url.js shoppingUrl) runs in the background on webNavigation events, so no tab compiles URL patterns.
 * @param {Document} doc
 * @returns {string|null}
 */
export function pageReason(doc) {
  const verdict = pageVerdict(doc);
  return verdict === ARTICLE ? null : verdict;
}

/** pageReason, but says ARTICLE for a page that declared itself an article (a final "no": no second look). */
export function pageVerdict(doc) {
  // Cheapest first: native selector queries, then bounded reads of a few texts.
  // A page that declares itself an article (og:type, article:* meta, an Article node) and has no
  // offer markup is not a shop page: that verdict is final, and it is the common case.
  return productMarkup(doc) || priceElement(doc) || priceNearHeading(doc) || cartControls(doc);
}
