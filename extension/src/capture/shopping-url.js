/**
 * The URL half of the first look (see probe.js for the page half): shopping URLs (shop searches and
 * search-engine searches for shopping terms, price comparison sites, carts, checkouts, order
 * confirmations, comparisons, reviews). Matched in the background on webNavigation events
 * (navigation.js), so no tab compiles these patterns.
 */
import { detectSearch, isPriceComparison } from './search.js';
import { isCartUrl } from './cart.js';
import { isCheckoutUrl } from './checkout.js';
import { isPurchaseUrl } from './purchase.js';
import { COMPARE_PATH } from './compare.js';
import { isReviewUrl } from './review.js';
import { pageReason } from './probe.js';
import { urlPath } from './urlpath.js';

export function shoppingUrl(url) {
  let u;
  try { u = new URL(url); } catch { return null; }
  if (!/^https?:$/.test(u.protocol)) return null;
  // detectSearch compiles its patterns on first use: only when the URL can hold a search at all.
  if ((u.search || u.hash.includes('?') || /search|such|recherch|busca|ricerca|zoek|szukaj|catalogsearch/i.test(u.pathname))
    && detectSearch(url)) return 'search-url';
  if (isPriceComparison(url)) return 'price-comparison';
  if (isPurchaseUrl(url) || isCheckoutUrl(url) || isCartUrl(url)) return 'order-url';
  if (COMPARE_PATH.test(urlPath(u)) || isReviewUrl(url)) return 'compare-or-review-url';
  return null;
}

/**
 * @param {Document} doc
 * @param {string} url
 * @returns {string|null} why the page looks like shopping (for tests and the bench), or null
 */
export function shoppingReason(doc, url) {
  return shoppingUrl(url) || pageReason(doc);
}

