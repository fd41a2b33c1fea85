/** Plain words for what the extension recorded (the popup). Pure functions: no DOM, no extension API. */

/** Gesture types in a person's words, lower case ("product view"). */
export const TYPE_WORDS = {
  search: 'search', product_view: 'product view', compare: 'comparison', review_read: 'reviews read', price_check: 'price check',
  wishlist_add: 'added to wishlist', cart_add: 'added to cart', cart_remove: 'removed from cart', cart_abandon: 'cart left',
  checkout_start: 'checkout', purchase: 'purchase', page_view: 'page visit', return_visit: 'return visit', share: 'shared',
  review_write: 'review written', return: 'return', referral: 'referral', declared_intent: 'declared intent',
};

/** The funnel stages of docs/SIGNALS.md, in order. */
export const STAGES = ['awareness', 'interest', 'motivation', 'action', 'relationship'];

/** 899 -> "899", 1299.5 -> "1,299.50" (the person's locale unless one is given). */
export function formatAmount(n, currency, locale) {
  if (!Number.isFinite(n)) return '';
  const whole = Number.isInteger(n);
  const num = new Intl.NumberFormat(locale, { minimumFractionDigits: whole ? 0 : 2, maximumFractionDigits: 2 }).format(n);
  return currency ? `${num} ${currency}` : num;
}

/**
 * One recorded gesture as a line: "product view: 65-inch TV, Samsung, 899 EUR", "search: oled tv",
 * "checkout: 1,234.50". Only the fields the gesture carries.
 * @param {{type: string, label?: string, brand?: string, price?: number, currency?: string, value?: number}} e
 */
export function describeGesture(e, locale) {
  const parts = [];
  if (e.label) parts.push(e.label);
  if (e.brand && !(e.label || '').toLowerCase().includes(String(e.brand).toLowerCase())) parts.push(e.brand);
  if (Number.isFinite(e.price)) parts.push(formatAmount(e.price, e.currency, locale));
  else if (Number.isFinite(e.value)) parts.push(formatAmount(e.value, e.currency, locale));
  // A page view with a value is a cart page (the cart total is its value).
  const what = e.type === 'page_view' && Number.isFinite(e.value) ? 'cart' : TYPE_WORDS[e.type] || String(e.type || '').replace(/_/g, ' ');
  return parts.length ? `${what}: ${parts.join(', ')}` : what;
}

/** "Televisions" for a category the vault's taxonomy names; "unclassified" when none was found. */
export function categoryLabel(e) {
  return e.category_name || (e.category ? e.category.split('.').pop().replace(/[-_]/g, ' ') : 'unclassified');
}

/** Today's gestures grouped by category name, most recent group first: [{name, items: [...]}]. */
export function byCategory(today) {
  const groups = new Map();
  for (const e of today) {
    const name = categoryLabel(e);
    if (!groups.has(name)) groups.set(name, []);
    groups.get(name).push(e);
  }
  return [...groups].map(([name, items]) => ({ name, items }));
}

/** The step of a stage in STAGES (0-based), or -1. */
export const stageIndex = (stage) => STAGES.indexOf(String(stage || '').toLowerCase());

/** "Paired with http://127.0.0.1:8000", "Pairing with …", "Not paired". */
export function pairingText(state) {
  if (state.paired) return `Paired with ${state.vault_url}`;
  if (state.pairing) return `Pairing with ${state.vault_url}: enter code ${state.pairing.user_code}`;
  return state.vault_url ? `Not paired (vault: ${state.vault_url})` : 'Not paired';
}
