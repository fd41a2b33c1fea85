/**
 * Content-script extractor: OpenGraph / Facebook product tags (og:type, product:price:amount,
 * og:price:amount, product:brand, product:retailer_item_id ...).
 */
import { meta, pageContext, clean } from './dom.js';
import { parsePriceMachine } from './schema.js';
import { currencyMarker, normalizeCurrency } from './currency.js';

/** Twitter's product card: twitter:labelN "Price" (in a few languages) and its twitter:dataN. */
function twitterPrice(doc) {
  for (const n of ['1', '2']) {
    if (/^(price|preis|prix|precio|prezzo|preço|prijs|cena|цена)$/i.test(meta(doc, `twitter:label${n}`) || '')) return meta(doc, `twitter:data${n}`);
  }
  return null;
}

/**
 * @param {Document} doc
 * @param {string} [url]
 * @returns {{ogType: string, isArticle: boolean, isProduct: boolean, product: object|null}}
 */
export function extractOpenGraph(doc, url) {
  const ctx = pageContext(doc, url);
  const ogType = (meta(doc, 'og:type') || '').toLowerCase().trim();
  // A sale price stated next to the regular one is the price to pay. Some shops write the price without the
  // ":amount" part (og:price, product:price) or in Twitter's label/data pairs ("Price" / "$49.99").
  const amount = meta(doc, 'product:sale_price:amount') || meta(doc, 'og:sale_price:amount') || meta(doc, 'product:price:amount')
    || meta(doc, 'og:price:amount') || meta(doc, 'product:price') || meta(doc, 'og:price') || meta(doc, 'twitter:data1:price')
    || twitterPrice(doc);
  const currency = (meta(doc, 'product:sale_price:amount') && meta(doc, 'product:sale_price:currency')) || meta(doc, 'product:price:currency')
    || meta(doc, 'og:price:currency') || meta(doc, 'product:sale_price:currency') || meta(doc, 'product:currency') || meta(doc, 'og:currency');
  let iso = currency ? normalizeCurrency(currency, ctx) : null;
  // An amount written with its currency ("49,99 €", "$49.99") names it itself.
  if (!iso && amount && /\D/.test(amount.replace(/[\d.,\s]/g, ''))) iso = currencyMarker(amount, ctx).iso;
  const price = amount ? parsePriceMachine(amount, { currency: iso || '', lang: ctx.lang || ctx.ogLocale }) : null;
  const isArticle = /^(article|blog|website:article|news)/.test(ogType) || !!meta(doc, 'article:published_time');
  const isProduct = /(^|[.:])product/.test(ogType) || ogType === 'og:product' || price !== null;
  let product = null;
  if (isProduct) {
    product = {
      name: clean(meta(doc, 'og:title') || '', 200),
      brand: clean(meta(doc, 'product:brand') || meta(doc, 'og:brand') || '', 120),
      price,
      currency: iso,
      category_hint: clean(meta(doc, 'product:category') || '', 200),
      sku: clean(meta(doc, 'product:retailer_item_id') || meta(doc, 'product:sku') || meta(doc, 'og:sku') || '', 80),
    };
  }
  return { ogType, isArticle, isProduct, product };
}
