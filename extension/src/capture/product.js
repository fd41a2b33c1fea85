/**
 * Decides whether a page is a product page, an article, or neither, and merges the extractors'
 * output (JSON-LD > microdata > OpenGraph > visible-price fallback). Articles never yield a
 * product: a page that declares itself an article (og:type=article, an Article/NewsArticle/
 * BlogPosting node, article:published_time) is only accepted as a product page when it also
 * declares og:type=product *and* offers its own add-to-cart control.
 */
import { extractJsonLd } from './jsonld.js';
import { extractOpenGraph } from './opengraph.js';
import { extractMicrodata } from './microdata.js';
import { extractHeuristics, mainHeading } from './heuristics.js';
import { clean, inPeripheral, meta, pageContext } from './dom.js';
import { countControls } from './patterns.js';
import { currencyFromContext } from './currency.js';

const DATED_PATH = /\/(19|20)\d{2}[/-](0?[1-9]|1[0-2])([/-]|$)|\/(news|blog|article|articles|story|stories|opinion|magazine|ratgeber|actualites|noticias|notizie|nieuws)\//i;
const PRODUCT_PATH = /\/(dp|gp\/product|itm|item|items|product|products|produkt|produit|producto|prodotto|produto|artikel|article-p|p|pd|ip|sku|buy|shop\/p)\/|[/_-]p[-_]?\d{3,}|-\d{5,}(\.html?)?\/?$|\.(html?|php|aspx?)$/i;

/** A long body of prose with a byline or publication time: the layout of a news or blog article. */
export function looksLikeArticleLayout(doc) {
  const body = doc.querySelector('[itemprop=articleBody], .article-body, .articleBody, .article__body, .post-content, .entry-content, .story-body, .article-content, .post-body');
  const article = body || doc.querySelector('article');
  if (!article) return false;
  const container = article.closest('article') || article;
  // Review dates and reviewer names on product pages are not a byline.
  const notReview = (el) => !el.closest('[class*=review i], [id*=review i], [itemprop=review], [class*=comment i], [id*=comment i]');
  const bylines = [...container.querySelectorAll('time[datetime], [itemprop=datePublished], [rel=author], .byline, [class*=byline i], [class*=author i], [class*=post-meta i]')].filter(notReview);
  const published = doc.querySelector('[itemprop=datePublished], meta[property="article:published_time"]');
  const dated = bylines.length > 0 || !!(published && !published.closest('[itemprop=review]'));
  const h1Inside = !!container.querySelector('h1');
  const long = (container.textContent || '').length > 1200;
  return dated && (long || h1Inside);
}

/** Phrases around a brand name in store links and labels, in many languages and shapes. */
const BRAND_BEFORE = /^(?:visit(?: the)?|besuchen sie(?: den| die| das)?|visita(?: lo| la| el| il)?|visitez(?: la| le)?|bezoek(?: de| het)?|odwiedź|navštivte|látogasson el|посетите|more (?:products )?from|mehr (?:artikel |produkte )?von|plus de(?: produits)?|más de|altri(?: prodotti)? di|meer van|więcej od|alle (?:produkte|artikel) von|all (?:products|items) (?:from|by)|view all|see all|shop all|voir tout|ver todo|vedi tutto|alles van|zobacz wszystkie)\s+(?:(?:store|shop|boutique|tienda|negozio|winkel|sklep|obchod|magasin|loja|mağaza)\s+(?:de|di|du|des|von|van|of)?\s*|(?:de|di|du|des|von|van|of)\s+)?/i;
const BRAND_AFTER = /(?:[\s-]+|'s\s+)(?:official\s+)?(?:brand\s+)?(?:store|shop|boutique|tienda|negozio|winkel|sklep|obchod|magasin|loja|mağaza|markenshop|shop-in-shop)(?:\s+(?:page|seite))?$/i;
const BRAND_LABEL = /^(?:brand|marke|marque|marca|merk|marka|märke|merkki|mærke|značka|brend|márka|бренд|марка|производитель|hersteller|fabricant|fabricante|produttore|producent|výrobce|manufacturer|make|品牌|ブランド|브랜드)\s*[:：]\s*/i;

/** A brand from a store link or label, without the phrase around it ("Visit the X Store", "X-Shop", "Brand: X"). */
export function brandName(raw) {
  let t = clean(raw, 80);
  for (let i = 0; i < 2; i++) t = t.replace(BRAND_LABEL, '').replace(BRAND_BEFORE, '').replace(BRAND_AFTER, '').trim();
  return t.replace(/^[\s"'“”«»]+|[\s"'“”«»,:;]+$/g, '');
}

/** The shop's own name (og:site_name, application-name, the host's main label): never a product's brand. */
export function shopNames(doc, url) {
  const out = new Set();
  for (const k of ['og:site_name', 'application-name', 'apple-mobile-web-app-title']) {
    const v = meta(doc, k);
    if (v) out.add(v.toLowerCase().replace(/[^\p{L}\d]+/gu, ''));
  }
  try {
    const labels = new URL(url).hostname.toLowerCase().split('.').filter((x) => !/^(www\d?|m|shop|store)$/.test(x));
    if (labels.length >= 2) out.add(labels[labels.length - 2].replace(/[^\p{L}\d]+/gu, ''));
  } catch { /* no URL */ }
  out.delete('');
  return out;
}

/** A usable brand: a short name, not a template or navigation label, not the shop itself or the page title. */
export function acceptBrand(value, { shops = new Set(), title = '' } = {}) {
  const t = brandName(value || '');
  if (!t || t.length > 40 || /[{}<>$%]|\d{4,}/.test(t) || t.split(' ').length > 5) return '';
  if (/\b(brands?|marken?|marques?|marcas?|merken|home|startseite|accueil|inicio)\b/i.test(t)) return '';
  const key = t.toLowerCase().replace(/[^\p{L}\d]+/gu, '');
  if (!key || shops.has(key)) return '';
  if (title && key === title.toLowerCase().replace(/[^\p{L}\d]+/gu, '')) return '';
  return t;
}

export function brandFromDom(doc, ctx = {}) {
  for (const el of doc.querySelectorAll('[itemprop=brand], [class*=brand i], [id*=brand i], [data-brand], #bylineInfo')) {
    if (inPeripheral(el) || el.children.length > 3 || el.closest('form, select, ul ul, [role=menu], [role=navigation], header')) continue;
    const t = acceptBrand(el.getAttribute('data-brand') || el.getAttribute('content') || clean(el.textContent, 80), ctx);
    if (t) return t;
  }
  return '';
}

const SKU_LABEL = /(?:^|[\s(])(?:sku|art\.?\s?-?nr\.?|artikelnummer|artikel-nr\.?|item (?:number|#|no\.?)|product code|produktcode|ref(?:erence|\.)?|référence|referencia|código|codice(?: articolo)?|kod(?: produktu)?|mpn|model(?:l)?(?:nummer| no\.?)?)\s*[:#]?\s*([A-Z0-9][A-Z0-9._/-]{2,30})/i;

function skuFromDom(doc, url) {
  for (const el of doc.querySelectorAll('[itemprop=sku], [data-sku], [class*=sku i], [id*=sku i]')) {
    if (inPeripheral(el)) continue;
    const t = (el.getAttribute('data-sku') || el.getAttribute('content') || clean(el.textContent, 60)).replace(/^.*?:\s*/, '').trim();
    if (/^[A-Za-z0-9][A-Za-z0-9._/-]{2,30}$/.test(t) && /\d/.test(t)) return t;
  }
  let n = 0;
  for (const el of doc.querySelectorAll('li, dd, td, span, p, div')) {
    if (++n > 20000) break;
    if (el.children.length > 2) continue;
    const t = clean(el.textContent, 80);
    const m = t.length < 80 && t.match(SKU_LABEL);
    if (m && /\d/.test(m[1])) return m[1];
  }
  try {
    const path = new URL(url).pathname;
    const m = path.match(/\/(?:dp|gp\/product|itm|item|product|p|pd)\/(?:[^/]*\/)?([A-Za-z0-9]{6,20})(?:[/?]|$)/);
    if (m && /\d/.test(m[1])) return m[1];
  } catch { /* no URL */ }
  return '';
}

/**
 * The first declared brand (markup: the shop's own statement, which may be its own label), else one read
 * from the page's store links and labels, which is never the shop itself or the product's title.
 */
function pickBrand(doc, url, name, declared) {
  for (const b of declared) {
    const t = acceptBrand(b);
    if (t) return t;
  }
  return brandFromDom(doc, { shops: shopNames(doc, url), title: clean(name, 200) });
}

function pick(...values) {
  for (const v of values) if (v !== null && v !== undefined && v !== '') return v;
  return values.length ? (values[values.length - 1] ?? null) : null;
}

/**
 * @param {Document} doc
 * @param {string} url
 * @returns {{kind: 'product'|'article'|'listing'|'other', product: object|null, reasons: string[], breadcrumbs: string[], orders: object[]}}
 */
export function detectProduct(doc, url) {
  const reasons = [];
  const ld = extractJsonLd(doc, url);
  const og = extractOpenGraph(doc, url);
  const md = extractMicrodata(doc, url);
  const controls = countControls(doc);
  const cartControls = controls.cart;
  const ldProduct = ld.products[0] || null;
  const mdMain = md.products.filter((p) => !p.peripheral);
  const mdProduct = mdMain[0] || null;
  const ogProductType = /(^|[.:])product/.test(og.ogType);

  let path = '';
  try { path = new URL(url).pathname; } catch { path = ''; }
  const productPath = PRODUCT_PATH.test(path) && !DATED_PATH.test(path);
  let layoutMemo;
  const articleLayout = () => (layoutMemo === undefined ? (layoutMemo = looksLikeArticleLayout(doc)) : layoutMemo);

  // Strong article evidence: an Article-family node. Article meta (article:published_time/author/
  // section/publisher) and og:type=article are weaker: shops set them next to their schema.org Product,
  // so a priced main Product with a cart control or a product-like URL outranks them.
  const strongArticle = ld.hasArticle || md.hasArticle;
  const articleMeta = !!(meta(doc, 'article:published_time') || meta(doc, 'article:author') || meta(doc, 'article:section')
    || meta(doc, 'article:publisher'));
  const weakArticle = articleMeta || og.ogType.startsWith('article') || og.ogType === 'blog';
  const mainPricedMarkup = (ldProduct && ldProduct.price !== null) || (mdProduct && mdProduct.price !== null);
  if (strongArticle) reasons.push('article-markup');
  if (weakArticle) reasons.push(articleMeta ? 'article-meta' : 'og-article');
  if (strongArticle && !(ogProductType && cartControls > 0)) {
    return { kind: 'article', product: null, reasons, breadcrumbs: ld.breadcrumbs, orders: ld.orders };
  }
  if (weakArticle && !(mainPricedMarkup && (cartControls > 0 || (productPath && !articleLayout())))) {
    return { kind: 'article', product: null, reasons, breadcrumbs: ld.breadcrumbs, orders: ld.orders };
  }
  // No declaration either way, but the page is laid out as a dated article and offers nothing to
  // buy itself: product markup there belongs to an embedded ad or a review snippet.
  if (cartControls === 0 && !ogProductType && articleLayout()) {
    reasons.push('article-layout');
    return { kind: 'article', product: null, reasons, breadcrumbs: ld.breadcrumbs, orders: ld.orders };
  }

  const listing = cartControls > 5 || mdMain.length > 6 || ld.products.length > 6;
  const markupProduct = !!(ldProduct && (ldProduct.price !== null || ld.products.length <= 2))
    || !!(mdProduct && (mdProduct.price !== null || mdMain.length <= 2)) || ogProductType || og.product?.price != null;

  let isProduct = false;
  const manyItems = mdMain.length > 6 || ld.products.length > 6;
  if (markupProduct && !(manyItems && !ogProductType && !productPath)) { isProduct = true; reasons.push('markup'); }
  let fallback = null;
  if (!isProduct && cartControls <= 5 && !listing && !weakArticle && !DATED_PATH.test(path) && !articleLayout()) {
    // No markup at all: accept only with a confident visible price. With a cart control, a priced
    // element near the heading will do; without one (image buttons, unknown words), the price must
    // carry a currency or sit in a price attribute, right after the main heading.
    fallback = extractHeuristics(doc, url);
    if (fallback.price !== null && (cartControls > 0 ? fallback.score >= 4 : fallback.score >= 6 && fallback.candidates <= 6)) {
      isProduct = true;
      reasons.push(cartControls > 0 ? 'cart-control' : 'visible-price');
    }
  }
  let unpriced = false;
  if (!isProduct && productPath && !listing && cartControls === 0 && controls.wishlist >= 1 && controls.wishlist <= 3
    && !articleLayout() && mainHeading(doc).el) {
    // An unavailable product (no price, no cart button) on a product URL that can still be saved to a wishlist.
    isProduct = true;
    unpriced = true;
    reasons.push('wishlist-only');
  }
  if (!isProduct) {
    return { kind: listing ? 'listing' : 'other', product: null, reasons, breadcrumbs: ld.breadcrumbs, orders: ld.orders };
  }

  const ogp = og.product || {};
  const ldp = ldProduct || {};
  const mdp = mdProduct || {};
  let price = pick(ldp.price, mdp.price, ogp.price, null);
  let currency = null;
  let currencyFrom = null;
  const src = price === null ? null : ldp.price === price ? ldp : mdp.price === price ? mdp : ogp;
  if (src && src.currency) { currency = src.currency; currencyFrom = src.currency_from || 'markup'; }
  if (!currency) {
    for (const p of [ldp, mdp, ogp]) if (p.currency) { currency = p.currency; currencyFrom = p.currency_from || 'markup'; break; }
  }
  let name = pick(ldp.name, mdp.name, ogp.name, '');
  if (!unpriced && (price === null || price === 0 || !currency || !name)) {
    const h = fallback || extractHeuristics(doc, url, { pageCurrency: currency || undefined });
    if ((price === null || price === 0) && h.price !== null) {
      price = h.price;
      reasons.push('visible-price');
      if (!currency) { currency = h.currency; currencyFrom = h.currencyFrom; }
    }
    if (!currency && price !== null && h.currency) { currency = h.currency; currencyFrom = h.currencyFrom; }
    if (!name) name = h.name;
  }
  if (unpriced) name = mainHeading(doc).text;
  if (!currency && price !== null) {
    currency = currencyFromContext(pageContext(doc, url));
    if (currency) currencyFrom = 'page country (domain, og:locale, html lang)';
  }
  const product = {
    name: clean(name, 200),
    brand: pickBrand(doc, url, name, [ldp.brand, mdp.brand, ogp.brand]),
    price: price === null ? null : price,
    currency: currency || null,
    category_hint: pick(ldp.category_hint, mdp.category_hint, ogp.category_hint, ld.breadcrumbs.slice(0, 6).join(' > '), ''),
    sku: pick(ldp.sku, mdp.sku, ogp.sku, skuFromDom(doc, url), ''),
  };
  const decided = { currency: currency ? currencyFrom : null };
  return { kind: 'product', product, reasons, decided, breadcrumbs: ld.breadcrumbs, orders: ld.orders, productPath };
}
