/**
 * What a page is, from all extractors together: the observations to record when it loads
 * (search, product_view, compare, review_read, cart page, checkout_start, purchase) and the
 * product context for later clicks. Pure: takes a Document and URL, touches no extension API.
 */
import { detectSearch, isPriceComparison } from './search.js';
import { detectProduct } from './product.js';
import { isCartUrl, readTotal } from './cart.js';
import { isCheckoutUrl } from './checkout.js';
import { detectPurchase } from './purchase.js';
import { detectCompare, isCompareUrl } from './compare.js';
import { isReviewUrl } from './review.js';
import { mainHeading } from './heuristics.js';

/**
 * @param {Document} doc
 * @param {string} url
 * @returns {{kind: string, observations: object[], product: object|null, breadcrumbs: string[]}}
 */
export function analysePage(doc, url) {
  const observations = [];
  const search = detectSearch(url);
  if (search) return { kind: 'search', observations: [{ type: 'search', query: search.query, engine: search.engine }], product: null, breadcrumbs: [] };

  const p = detectProduct(doc, url);
  if (isPriceComparison(url) && p.kind !== 'article') {
    // Comparing offers for a product on a price comparison site.
    const obs = { type: 'price_check', breadcrumbs: p.breadcrumbs, label: mainHeading(doc).text };
    if (p.product) obs.product = p.product;
    return { kind: 'price_check', observations: [obs], product: p.product, breadcrumbs: p.breadcrumbs };
  }
  // An article is never a purchase, a checkout, a cart, a comparison or a product, whatever words its
  // URL slug holds (a schema.org Order on the page is not an article's).
  if (p.kind === 'article' && !p.orders.length) return { kind: 'article', observations: [], product: null, breadcrumbs: [] };
  const purchase = detectPurchase(doc, url, p.orders);
  if (purchase) {
    const obs = { type: 'purchase' };
    if (purchase.value !== null) obs.value = purchase.value;
    return { kind: 'purchase', observations: [obs], product: null, breadcrumbs: [] };
  }
  if (isCheckoutUrl(url)) {
    const obs = { type: 'checkout_start' };
    const v = readTotal(doc);
    if (v !== null) obs.value = v;
    return { kind: 'checkout', observations: [obs], product: null, breadcrumbs: [] };
  }
  if (isCartUrl(url)) {
    const obs = { type: 'page_view', cart: true };
    const v = readTotal(doc);
    if (v !== null) obs.value = v;
    return { kind: 'cart', observations: [obs], product: null, breadcrumbs: [] };
  }
  // A comparison URL is a comparison; a product page with an "add to compare" button or a
  // compare-table class is still a product page (detectCompare looks at the page only for non-products).
  if (isCompareUrl(url) || (p.kind !== 'product' && detectCompare(doc, url))) {
    return { kind: 'compare', observations: [{ type: 'compare', breadcrumbs: p.breadcrumbs }], product: null, breadcrumbs: p.breadcrumbs };
  }
  if (p.kind === 'product') {
    observations.push({ type: 'product_view', product: p.product, breadcrumbs: p.breadcrumbs });
    if (isReviewUrl(url)) observations.push({ type: 'review_read', product: p.product, breadcrumbs: p.breadcrumbs });
    return { kind: 'product', observations, product: p.product, breadcrumbs: p.breadcrumbs, decided: p.decided };
  }
  if (p.kind === 'listing') {
    // A category or search listing: a page_view, classified on the device from the breadcrumb and
    // heading (which are used for classification only and never sent).
    const heading = mainHeading(doc).text;
    return { kind: 'listing', observations: [{ type: 'page_view', breadcrumbs: p.breadcrumbs, label: heading }], product: null, breadcrumbs: p.breadcrumbs };
  }
  if (isReviewUrl(url)) {
    return { kind: 'reviews', observations: [{ type: 'review_read', breadcrumbs: p.breadcrumbs }], product: null, breadcrumbs: p.breadcrumbs };
  }
  return { kind: 'other', observations: [], product: null, breadcrumbs: p.breadcrumbs };
}
