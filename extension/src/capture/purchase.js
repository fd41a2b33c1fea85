/**
 * Content-script extractor: order confirmation ("thank you") pages, from the URL or a schema.org
 * Order in JSON-LD, and the order value. The order number, address and items are never read.
 */
import { readTotal } from './cart.js';
import { parsePriceMachine } from './schema.js';
import { normalizeCurrency } from './currency.js';
import { urlPath } from './urlpath.js';

/**
 * Order-confirmation words that only ever name an order page; matched as whole words of the path
 * (never inside another word: "commercial" holds "merci", "thanksgiving" holds "thanks").
 */
const ORDER_DONE = 'order-?confirm(?:ation|ed)?|orderconfirmation|order-?complete|order-?received|order-?success|order-?placed|'
  + 'purchase-?(?:complete|confirmation)|bestellbestaetigung|bestellbestätigung|bestellung-abgeschlossen|confirmation-commande|'
  + 'commande-confirmee|confirmacion-pedido|pedido-confirmado|conferma-ordine|bestelling-bevestigd|potwierdzenie-zamowienia|'
  + 'pedido-realizado|tack-for-ditt-kop|orderbekraftelse';
/** Localised thank-you words: ordinary words in article slugs, so only a whole path segment or next to an order word. */
const THANKS = 'thank-?you|thankyou|thanks|danke|merci|gracias|grazie|bedankt|dziekujemy|dziękujemy|obrigado|kiitos|tesekkurler|teşekkürler|spasibo|tack';
// Lower-cased input, no i/u flags: cheap to compile in every tab (see probe.js). Letters: Latin, Greek, Cyrillic.
const LETTER = 'a-z\\u00c0-\\u024f\\u0370-\\u03ff\\u0400-\\u04ff';
const WORD_EDGE = `(?:^|[^${LETTER}\\d])`;
const WORD_END = `(?=$|[^${LETTER}\\d])`;
const ORDER_WORD = new RegExp(`${WORD_EDGE}(?:checkout|order|orders|bestellung|commande|pedido|ordine|bestelling|zamowienie|zamówienie|kasse|payment|purchase)${WORD_END}`);
export const PURCHASE_PATH = new RegExp(`${WORD_EDGE}(?:${ORDER_DONE})${WORD_END}|checkout/(?:[^/]+/)?(?:success|complete|done|thank[^/]*|confirmation|order-received)${WORD_END}`);
const THANKS_SEGMENT = new RegExp(`^(?:${THANKS})(?:\\.\\w{2,5})?$`);
const THANKS_WORD = new RegExp(`${WORD_EDGE}(?:${THANKS})${WORD_END}`);

/** An order confirmation ("thank you") URL: path and fragment, words on word boundaries. */
export function isPurchaseUrl(url) {
  let u;
  try { u = new URL(url); } catch { return false; }
  const where = `${urlPath(u)}${(u.hash || '').toLowerCase()}`;
  if (PURCHASE_PATH.test(where)) return true;
  if (where.split(/[/#?]/).some((seg) => THANKS_SEGMENT.test(seg))) return true;
  return THANKS_WORD.test(where) && ORDER_WORD.test(where);
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
