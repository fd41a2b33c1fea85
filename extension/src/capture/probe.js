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
// The markup look. Attribute selectors run in the browser's native selector engine (a fraction of a millisecond on
// a big article; the same look as XPath with translate() over every element took 1-4 ms) and, on the common page
// (an article), return null, so no element is handed to script and the content-script world builds no wrappers
// or prototypes for the page's element types. Where a match is the usual answer (article meta), only a count
// is read (querySelectorAll(...).length). JSON-LD texts are read as XPath strings (no element either).
const OFFER_SEL = '[itemtype*="schema.org/offer" i],[itemtype*="schema.org/aggregateoffer" i],[itemtype*="schema.org/order" i],'
  + '[itemprop=price],[property="itemprop:price"],meta[property^="product:price" i],meta[property^="og:price:" i],meta[property^="twitter:data1" i]';
const OG_PRODUCT_SEL = 'meta[property="og:type" i][content*="product" i]';
const PRODUCT_SEL = '[itemtype*="schema.org/product" i],[typeof~="product" i],[typeof*="schema:product" i],meta[property^="product:" i]';
const ARTICLE_SEL = 'meta[property^="article:" i],meta[property="og:type" i][content^="article" i],[itemtype*="article" i],[itemtype*="blogposting" i]';
const LD_SCRIPTS = "//script[translate(@type,'ABCDEFGHIJKLMNOPQRSTUVWXYZ','abcdefghijklmnopqrstuvwxyz')='application/ld+json']";
const xpath = (doc, expr, type) => doc.evaluate(expr, doc, null, type, null);
const xString = (doc, expr) => xpath(doc, expr, 2 /* STRING_TYPE */).stringValue;
const xNumber = (doc, expr) => xpath(doc, expr, 1 /* NUMBER_TYPE */).numberValue;
const has = (doc, sel) => doc.querySelector(sel) !== null; // null on a page without it: no element wrapper
const any = (doc, sel) => doc.querySelectorAll(sel).length > 0; // a count only, no element wrapper
/**
 * Elements that say "price" in their class or id, in the languages the visible-price fallback reads (the usual
 * spellings, case-sensitive), or carry a price attribute: one selector list for the native engine. (A loop in
 * script over every element's attributes builds a wrapper per element; a case-insensitive `i` match per word
 * costs more in the selector engine.)
 */
const PRICE_WORDS = ['price', 'Price', 'PRICE', 'preis', 'Preis', 'prix', 'Prix', 'precio', 'Precio', 'prezzo', 'preco', 'preço', 'prijs', 'cijena', 'hinta', 'fiyat', 'цена', 'ціна'];
const PRICE_SEL = `body :is([price],[data-price],[data-product-price],[data-sku],[data-product-id],${PRICE_WORDS.map((w) => `[class*="${w}"],[id*="${w}"]`).join(',')})`;
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
  if (has(doc, OFFER_SEL)) return 'offer-markup';
  if (has(doc, OG_PRODUCT_SEL)) return 'og-product';
  let article = false;
  let product = false;
  const scripts = Math.min(30, xNumber(doc, `count(${LD_SCRIPTS})`));
  for (let i = 1; i <= scripts; i++) {
    // Regexes over the raw text: no JSON parse here (the analyser parses, leniently, when it runs).
    // Plain substring checks first (supersets of the regexes): most pages never compile or run these regexes.
    const text = xString(doc, `string((${LD_SCRIPTS})[${i}])`).slice(0, 200_000);
    if (mayOffer(text) && LD_OFFER.test(text)) return 'offer-markup';
    product ||= mayProduct(text) && LD_PRODUCT.test(text);
    article ||= mayArticle(text) && LD_ARTICLE.test(text);
  }
  if (article || any(doc, ARTICLE_SEL)) return ARTICLE;
  return product || any(doc, PRODUCT_SEL) ? 'product-markup' : null;
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

/** An element whose class or id says "price", or a price attribute (price="44890"), in the page's body. */
export function priceElement(doc) {
  return has(doc, PRICE_SEL) ? 'price-element' : null;
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
