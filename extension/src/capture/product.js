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
import { parsePrice } from './price.js';

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

/**
 * Phrases around a brand name in store links, "more from" links and labels, in many languages and shapes:
 * a phrase before the name ("Visit the X Store", "Besuchen Sie den X-Store", "Más productos de X", "Все товары
 * X", "进入X旗舰店"), a suffix ("X Official Store", "X-Shop", "X Mağazası", "X旗舰店", "Xストア", "X 브랜드관")
 * and a label with a colon ("Brand: X", "Marke:", "Бренд:", "品牌：").
 */
const BEFORE_PHRASES = [
  'visit(?: the)?', 'go to(?: the)?', 'shop(?: the| all)?', 'explore(?: the)?', 'discover(?: the)?', 'see more from', 'more (?:products |items )?(?:from|by)',
  'view (?:all|more)(?: products| items)?(?: from| by)?', 'see all(?: products| items)?(?: from| by)?', 'all (?:products|items) (?:from|by)', 'by',
  'besuchen sie(?: den| die| das)?', 'zum', 'zur', 'mehr (?:artikel |produkte )?von', 'alle (?:produkte|artikel) von', 'weitere (?:produkte|artikel) von', 'mehr von',
  'visitez(?: la| le)?', 'voir (?:tous )?les produits(?: de)?', 'plus de(?: produits)?', 'voir tout', 'découvrir(?: la marque)?', 'découvrez(?: la marque)?',
  'visita(?: lo| la| el| il)?', 'ver (?:más|todos los) productos de', 'más productos de', 'más de', 'ver todo', 'tienda oficial de',
  'altri(?: prodotti)? di', 'vedi tutto', 'scopri(?: di più su)?', 'visite(?: a| o)?', 'ver mais(?: produtos)? de', 'mais de', 'loja oficial(?: da| do| de)?',
  'bezoek(?: de| het)?', 'meer van', 'alles van', 'bekijk alle producten van', 'odwiedź', 'więcej od', 'więcej produktów(?: marki)?', 'zobacz wszystkie(?: produkty)?',
  'navštivte', 'další produkty(?: značky)?', 'všechny produkty(?: značky)?', 'látogasson el', 'besök', 'fler produkter från', 'mer från', 'flere produkter fra',
  'se alle produkter fra', 'lisää tuotteita(?: merkiltä)?', 'vezi toate produsele', 'mai multe de la', 'посетите', 'все товары(?: бренда)?', 'ещё от', 'еще от',
  'перейти в магазин', 'другие товары(?: бренда)?', 'всі товари(?: бренду)?', 'περισσότερα από', 'tüm',
].sort((a, b) => b.length - a.length); // the longest phrase first ("shop all" before "shop")
const SHOP_WORD = '(?:store|shop|boutique|tienda|negozio|winkel|sklep|obchod|magasin|loja|mağaza|butik|butiken|markenshop|магазин)';
const BRAND_BEFORE = new RegExp(`^(?:进入|访问|前往|(?:${BEFORE_PHRASES.join('|')})\\s+)(?:${SHOP_WORD}\\s+(?:de|di|du|des|von|van|of|da|do)?\\s*|(?:de|di|du|des|von|van|of|da|do|la|le|el|the|den|die|das)\\s+)?`, 'iu');
const BRAND_AFTER = new RegExp(`(?:[\\s-]+|'s\\s+)(?:official\\s+)?(?:brand\\s+)?(?:${SHOP_WORD}|storefront|mağazası|mağazasını ziyaret et|ürünleri|további termékei)(?:\\s+(?:page|seite|oficial|officiel|ufficiale))?$|\\s*(?:官方旗舰店|旗舰店|专卖店|专营店|官方店|自营店|旗艦店|公式ストア|のストアを表示|ストア|ショップ|公式ショップ|\\s브랜드관|\\s공식스토어|\\s스토어)$`, 'iu');
const BRAND_LABEL = /^(?:brand(?: name)?|marke|marque|marca|marcă|merk|merke|marka|märke|merkki|mærke|značka|brend|blagovna znamka|márka|бренд|марка|торговая марка|виробник|производитель|hersteller|fabricant|fabricante|produttore|producent|proizvajalec|proizvođač|výrobce|výrobca|gyártó|producător|valmistaja|tillverkare|produsent|fabrikant|manufacturer|make|品牌|ブランド|メーカー|브랜드|제조사|製造商|厂商)\s*[:：]\s*/iu;
const MAKER_LABEL = /^(?:виробник|производитель|hersteller|fabricant|fabricante|produttore|producent|proizvajalec|proizvođač|výrobce|výrobca|gyártó|producător|valmistaja|tillverkare|produsent|fabrikant|manufacturer|make|メーカー|제조사|製造商|厂商)\s*[:：]?/iu;
const LABEL_ONLY = new RegExp(`^${BRAND_LABEL.source.slice(1).replace(/\\s\*\[:：\]\\s\*$/, '')}\\s*[:：]?$`, 'iu');

/** A brand from a store link or label, without the phrase around it ("Visit the X Store", "X-Shop", "Brand: X"). */
export function brandName(raw) {
  let t = clean(raw, 80);
  for (let i = 0; i < 2; i++) t = t.replace(BRAND_LABEL, '').replace(BRAND_BEFORE, '').replace(BRAND_AFTER, '').trim();
  return t.replace(/^[\s"'“”«»「」]+|[\s"'“”«»「」,:;]+$/g, '');
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
    if (labels.length >= 2) {
      // "shop.co.uk" -> "shop", "brand.com.au" -> "brand": the label before the public suffix.
      const n = labels.length >= 3 && labels.at(-1).length === 2 && /^(co|com|net|org|ne|or|gob|gov)$/.test(labels.at(-2)) ? 3 : 2;
      if (labels.length >= n) out.add(labels[labels.length - n].replace(/[^\p{L}\d]+/gu, ''));
    }
  } catch { /* no URL */ }
  out.delete('');
  return out;
}

/** A usable brand: a short name, not a template or navigation label, not the shop itself or the page title. */
export function acceptBrand(value, { shops = new Set(), title = '' } = {}) {
  const t = brandName(value || '');
  if (!t || t.length > 40 || /[{}<>$%]|\d{4,}/.test(t) || t.split(' ').length > 5) return '';
  if (/\b(brands?|marken?|marques?|marcas?|merken)\b/i.test(t) || /^(home|startseite|accueil|inicio|shop|store)$/i.test(t) || LABEL_ONLY.test(t)) return '';
  if (/^(n\/?a|none|null|undefined|generic|unbranded|no brand|sans marque|sin marca|ohne marke|keine marke|other|others|autre|otro|andere|sonstige)$/i.test(t)) return '';
  const key = t.toLowerCase().replace(/[^\p{L}\d]+/gu, '');
  if (!key || shops.has(key)) return '';
  if (title) {
    const tk = title.toLowerCase().replace(/[^\p{L}\d]+/gu, '');
    // The product's title (or most of it) is not its brand.
    if (key === tk || (key.length > 12 && tk.startsWith(key) && key.length > tk.length * 0.7)) return '';
  }
  return t;
}

const SUBLINE = /(sub|line|tag|collection|series|serie|range|desc|slogan|claim|motto|caption|subtitle)/i;

/** The brand element's own name: a brand box may hold the name and a sub-line (collection, tagline) under it. */
function ownBrandText(el) {
  if (el.hasAttribute('data-brand')) return el.getAttribute('data-brand');
  if (el.hasAttribute('content')) return el.getAttribute('content');
  if (el.children.length) {
    const kids = [...el.children];
    const named = kids.find((k) => /(name|title|brand|^a$)/i.test(`${k.tagName === 'A' ? 'a' : ''} ${typeof k.className === 'string' ? k.className : ''} ${k.getAttribute('itemprop') || ''}`)
      && !SUBLINE.test(typeof k.className === 'string' ? k.className : ''));
    if (named && clean(named.textContent, 80)) return clean(named.textContent, 80);
    const rest = kids.filter((k) => !SUBLINE.test(typeof k.className === 'string' ? k.className : '') && !/^(small|sub|sup)$/i.test(k.tagName));
    if (rest.length < kids.length) {
      // Text of the box without its sub-line children.
      const copy = el.cloneNode(true);
      for (const k of [...copy.children]) if (SUBLINE.test(typeof k.className === 'string' ? k.className : '') || /^(small|sub|sup)$/i.test(k.tagName)) k.remove();
      return clean(copy.textContent, 80);
    }
  }
  return clean(el.textContent, 80);
}

const skipBox = (el) => inPeripheral(el) || !!el.closest('form, select, ul ul, [role=menu], [role=navigation], header, nav, footer, [class*=menu i], [class*=breadcrumb i]');

/** Parts of a page where "Brand: X" describes something else: reviews, filters, other products. */
const OTHER_AREA = '[class*=review i], [id*=review i], [class*=comment i], [class*=filter i], [class*=facet i], [class*=compare i], [class*=recent i], [class*=wishlist i], [class*=cart i]';

/**
 * "Brand: X" rows of the product's details (a label cell, term or bold label and the value after it), in
 * the product's part of the page: after its heading or a little before it, never in reviews, filters or
 * other products' boxes, and only a label seen once (a label repeated on many items is a list of products).
 */
function brandFromLabels(doc, ctx) {
  const heading = mainHeading(doc).el;
  const all = doc.body ? doc.body.getElementsByTagName('*') : [];
  const at = heading ? Array.prototype.indexOf.call(all, heading) : -1;
  const found = [];
  let n = 0;
  for (const el of doc.querySelectorAll('dt, th, td, strong, b, label, span')) {
    if (++n > 20000) break;
    // A label is a leaf or holds one leaf: reading its text stays cheap on deep or hostile pages.
    if (el.children.length > 1 || (el.firstElementChild && el.firstElementChild.childElementCount > 0)) continue;
    const text = clean(el.textContent, 120);
    if (!text || text.length > 80) continue;
    let value = '';
    if (LABEL_ONLY.test(text)) {
      // The label alone: its value is the next cell / element, or the rest of its parent's text.
      const next = el.nextElementSibling;
      if (next && next.getElementsByTagName('*').length <= 6 && clean(next.textContent, 80)) value = ownBrandText(next);
      else if (el.parentElement && el.parentElement.childElementCount <= 4) {
        const whole = clean(el.parentElement.textContent, 120);
        if (whole.length <= 80 && whole.startsWith(text)) value = whole.slice(text.length);
      }
    }
    if (!value || skipBox(el) || el.closest(OTHER_AREA)) continue;
    if (at >= 0) {
      const i = Array.prototype.indexOf.call(all, el);
      if (i < at - 150) continue;
    }
    const t = acceptBrand(value, ctx);
    if (t) found.push({ t, maker: MAKER_LABEL.test(text) });
    if (found.length > 3) break;
  }
  // One product names its brand once (perhaps twice: a summary and a details table), not many brands; a
  // brand label outranks a manufacturer label (the maker of a brand is another company).
  const brands = found.filter((f) => !f.maker);
  const use = brands.length ? brands : found;
  const distinct = new Set(use.map((x) => x.t.toLowerCase()));
  return use.length && distinct.size === 1 ? use[0].t : '';
}

const BRAND_HREF = /\/(?:brands?|marken?|marques?|marcas?|merken?|marki|brand-?stores?|stores?\/brand|manufacturers?|hersteller|fabricants?|proizvajalci|бренды?|品牌)\/[^/?#]+|[?&](?:manufacturer_id|brand_id|brand|marke|marque)=[^&#]+|\/(?:brand|marke|marque|marca)-[^/?#]+\/?$/i;

/**
 * A link to the brand's page (/brand/x, /marken/x, ?manufacturer_id=…) close to the product's heading, alone
 * (a list of several brand links is a brand menu or filter), with a short name as its text.
 */
function brandFromLinks(doc, ctx) {
  const heading = mainHeading(doc).el;
  if (!heading || !doc.body) return '';
  const all = doc.body.getElementsByTagName('*');
  const at = Array.prototype.indexOf.call(all, heading);
  let n = 0;
  for (const a of doc.body.querySelectorAll('a[href]')) {
    if (++n > 3000) break;
    if (!BRAND_HREF.test(a.getAttribute('href') || '') || skipBox(a) || a.children.length > 3) continue;
    const i = Array.prototype.indexOf.call(all, a);
    if (i < at - 150 || i > at + 300) continue;
    const list = a.parentElement?.closest('ul, ol, div');
    if (list && [...list.querySelectorAll('a[href]')].filter((x) => BRAND_HREF.test(x.getAttribute('href') || '')).length > 2) continue;
    const text = clean(a.textContent, 80) || clean(a.getAttribute('title'), 80) || clean(a.querySelector('img[alt]')?.getAttribute('alt'), 80);
    if (!text || text.split(' ').length > 4) continue;
    const t = acceptBrand(text, ctx);
    if (t) return t;
  }
  return '';
}

export function brandFromDom(doc, ctx = {}) {
  for (const el of doc.querySelectorAll('[itemprop=brand], meta[name=brand i], [class*=brand i], [id*=brand i], [data-brand], #bylineInfo')) {
    if (el.children.length > 3 || skipBox(el)) continue;
    if (/(^|[\s_-])(navbar-brand|brand-logo|site-brand|brands?-(?:list|menu|nav|filter|carousel|slider))([\s_-]|$)/i.test(typeof el.className === 'string' ? el.className : '')) continue;
    const t = acceptBrand(ownBrandText(el), ctx);
    if (t) return t;
  }
  return brandFromLabels(doc, ctx) || brandFromLinks(doc, ctx);
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

const STATE_BRAND = /["']?(?:brand|brandName|brand_name|item_brand|productBrand|product_brand|manufacturer|manufacturerName)["']?\s*[:=]\s*(?:\{[^{}]{0,200}?["']?name["']?\s*:\s*)?["']([^"'\\<>{}]{2,40})["']/gi;
const wordKey = (s) => s.toLowerCase().replace(/[^\p{L}\d]+/gu, '');

/**
 * A brand named in the page's own scripts (an app's state, an analytics data layer: "brand": "TP Link",
 * item_brand, brand: {name: …}) is taken only when the product's name holds it as whole words: scripts also
 * describe other products, the name says which brand is this one's. It is spelled as the name shows it.
 */
export function brandFromScripts(doc, name, ctx = {}) {
  const words = clean(name, 200).split(' ').filter(Boolean);
  if (!words.length) return '';
  const seen = new Set();
  let budget = 3_000_000;
  let best = null;
  for (const script of doc.querySelectorAll('script:not([src])')) {
    const type = (script.getAttribute('type') || 'text/javascript').toLowerCase();
    if (!/javascript|json|^module$/.test(type) || type.includes('ld+json')) continue;
    const text = script.textContent || '';
    if (text.length > budget) break;
    budget -= text.length;
    if (!/brand|manufacturer/i.test(text)) continue;
    for (const m of text.matchAll(STATE_BRAND)) {
      const key = wordKey(m[1]);
      if (!key || seen.has(key) || seen.size > 200) continue;
      seen.add(key);
      if (!acceptBrand(m[1], ctx)) continue;
      // The words of the name that spell this brand ("TP-Link" for "TP Link"), earliest first.
      for (let i = 0; i < words.length && i < 12; i++) {
        let joined = '';
        for (let j = i; j < words.length && j < i + 4; j++) {
          joined += wordKey(words[j]);
          if (joined === key) {
            if (!best || i < best.at) best = { at: i, text: words.slice(i, j + 1).join(' ').replace(/^[\s"'“”«»(]+|[\s"'“”«»),:;]+$/g, '') };
            break;
          }
          if (!key.startsWith(joined)) break;
        }
      }
    }
  }
  return best ? acceptBrand(best.text, ctx) : '';
}

/**
 * The first declared brand (markup: the shop's own statement, which may be its own house brand or the brand's
 * own shop), unless it is the product's title (templates fill the brand with it); else one read from the
 * page's brand elements, labels and brand links, which is never the shop itself or the product's title.
 */
function pickBrand(doc, url, name, declared) {
  const ctx = { shops: shopNames(doc, url), title: clean(name, 200) };
  for (const b of declared) {
    const t = acceptBrand(b, { title: ctx.title });
    if (t) return t;
  }
  return brandFromDom(doc, ctx) || brandFromScripts(doc, name, ctx);
}

/** Whether a struck-through or old/was-price element near the top of the page shows `value`. */
function struckPriceShown(doc, value) {
  let n = 0;
  for (const el of doc.querySelectorAll('del, s, strike, [style*=line-through], [class*=old-price i], [class*=oldprice i], [class*=price-old i], [class*=was-price i], [class*=price-was i], [class*=regular-price i], [class*=list-price i], [class*=strike i], [class*=line-through i], [class*=crossed i], [data-price-type=oldPrice]')) {
    if (++n > 200) break;
    if (el.children.length > 3 || inPeripheral(el)) continue;
    const text = clean(el.getAttribute('data-price-amount') || el.textContent, 40);
    if (!/\d/.test(text)) continue;
    const v = parsePrice(text);
    if (v !== null && Math.abs(v - value) < 0.005) return true;
  }
  return false;
}

const nameKey = (s) => clean(s, 200).toLowerCase().replace(/[^\p{L}\d]+/gu, '');

/**
 * Of several priced products in the markup (the page's own and widgets' or bundles' ones at the same depth),
 * the one whose name is the page's main heading, or is contained in it / contains it; null when none or
 * only one is priced (the extractors' own order then decides).
 */
function namedLike(products, heading) {
  const priced = products.filter((p) => p.price !== null && p.name);
  const h = nameKey(heading);
  if (priced.length < 2 || h.length < 4) return null;
  return priced.find((p) => nameKey(p.name) === h)
    || priced.find((p) => { const k = nameKey(p.name); return k.length >= 4 && (h.includes(k) || k.includes(h)); }) || null;
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
  const heading = mainHeading(doc).text;
  const ldProduct = namedLike(ld.products, heading) || ld.products[0] || null;
  const mdMain = md.products.filter((p) => !p.peripheral);
  const mdProduct = namedLike(mdMain, heading) || mdMain[0] || null;
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
    if (fallback.price !== null && (cartControls > 0 ? fallback.score >= 4 : fallback.score >= 6 && fallback.candidates <= 6 && !fallback.viaLabel)) {
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
  // Markup that states the list price while the page shows it struck through next to a lower sale price:
  // the shopper pays the visible sale price (only looked at when a struck price equals the declared one).
  if (price !== null && price > 0 && struckPriceShown(doc, price)) {
    const h = fallback || (fallback = extractHeuristics(doc, url, { pageCurrency: currency || undefined }));
    if (h.price !== null && h.price > 0 && h.price < price && h.price >= price * 0.2 && h.score >= 5 && (!h.currency || !currency || h.currency === currency)) {
      price = h.price;
      reasons.push('visible-sale-price');
    }
  }
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
