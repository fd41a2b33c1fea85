/**
 * Content-script extractor: order confirmation ("thank you") pages, from the URL or a schema.org
 * Order in JSON-LD, and the order value. The order number, address and items are never read.
 */
import { readTotal } from './cart.js';
import { parsePriceMachine } from './schema.js';
import { normalizeCurrency } from './currency.js';

export const PURCHASE_PATH = /(order-?confirm(ation|ed)?|orderconfirmation|order-?complete|order-?received|order-?success|order-?placed|thank-?you|thankyou|thanks|checkout\/(?:[^/]+\/)?(success|complete|done|thank[^/]*|confirmation|order-received)|purchase-?(complete|confirmation)|bestellbestaetigung|bestellbestätigung|bestellung-abgeschlossen|danke|confirmation-commande|commande-confirmee|merci|confirmacion-pedido|pedido-confirmado|gracias|conferma-ordine|grazie|bestelling-bevestigd|bedankt|potwierdzenie-zamowienia|dziekujemy|dziękujemy|obrigado|pedido-realizado|tack-for-ditt-kop|orderbekraftelse|kiitos|tesekkurler|spasibo)/i;

export function isPurchaseUrl(url) {
  try { const u = new URL(url); return PURCHASE_PATH.test(u.pathname + (u.hash || '')); } catch { return false; }
}

/** Order value from JSON-LD Order nodes (price / totalPaymentDue / acceptedOffer). */
export function orderValue(orders, ctx = {}) {
  for (const o of orders || []) {
    const due = o.totalPaymentDue || o.priceSpecification || {};
    const candidates = [due.price ?? due.value, o.price, ...(Array.isArray(o.acceptedOffer) ? o.acceptedOffer : [o.acceptedOffer]).map((a) => a?.price)];
    for (const c of candidates) {
      const v = parsePriceMachine(c);
      if (v !== null && v > 0) return { value: v, currency: normalizeCurrency(due.priceCurrency || o.priceCurrency, ctx) };
    }
  }
  return null;
}

/**
 * @returns {{value: number|null}|null} null when the page is not an order confirmation
 */
export function detectPurchase(doc, url, orders = []) {
  const fromLd = orderValue(orders);
  if (!isPurchaseUrl(url) && !orders.length) return null;
  if (fromLd) return { value: fromLd.value };
  return { value: readTotal(doc) };
}
