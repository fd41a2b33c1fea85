/**
 * Content-script extractor: cart pages (URL patterns in many languages) and the cart total, read
 * as a number from a "total" element. Product lines, names and quantities are never read.
 */
import { clean, inPeripheral } from './dom.js';
import { parsePrice } from './price.js';
import { urlPath } from './urlpath.js';

export const CART_PATH = /(^|\/)(cart|carts|basket|shopping-?bag|bag|trolley|warenkorb|einkaufswagen|panier|carrito|cesta|carrello|winkelwagen|winkelmand(je)?|koszyk|kosik|košík|kosarica|košarica|kosarica|carrinho|sacola|kundvagn|varukorg|handlekurv|indkobskurv|indkøbskurv|kurv|ostoskori|kosar|kosár|cos|cos-de-cumparaturi|sepet|sepetim|korzina|корзина|gwk|viewcart|view-cart|shoppingcart|shopping-cart)(\/|\.|$|\?)/;
const NOT_CART = /(confirmation|success|thank)/;
const CHECKOUT_WORD = /(checkout|kasse|caisse|commande|afrekenen|kassa|pago|cassa)/g;
// URL patterns match the lower-cased path without the i flag: cheap to compile in every tab (first.js).

/** A cart page: a cart word in the path that comes after any checkout word ("/checkout/cart/" is a cart). */
export function isCartUrl(url) {
  let u;
  try { u = new URL(url); } catch { return false; }
  const path = urlPath(u);
  const m = CART_PATH.exec(path);
  if (!m || NOT_CART.test(path)) return false;
  let lastCheckout = -1;
  for (const c of path.matchAll(CHECKOUT_WORD)) lastCheckout = c.index;
  return path.lastIndexOf(m[2]) > lastCheckout;
}

const TOTAL = /(grand-?total|order-?total|cart-?total|basket-?total|sub-?total|summary-?total|total-?price|totalprice|total_price|gesamt|summe|montant-?total|importe-?total|totale|totaal|razem|suma|celkem|yhteensa|toplam|итого|(^|[\s_-])total($|[\s_-]))/i;

/** The order or cart total shown on the page, as a number (no text kept). */
export function readTotal(doc) {
  let best = null;
  let n = 0;
  for (const el of doc.querySelectorAll('[class], [id], [data-testid]')) {
    if (++n > 20000) break;
    const sig = `${el.id || ''} ${typeof el.className === 'string' ? el.className : ''} ${el.getAttribute('data-testid') || ''}`;
    if (!TOTAL.test(sig) || inPeripheral(el)) continue;
    const text = clean(el.textContent, 80);
    if (!text || text.length > 60 || !/\d/.test(text)) continue;
    const v = parsePrice(text.replace(/^[^\d]*?:/, ''));
    if (v === null || v === 0) continue;
    const grand = /grand|order-?total|gesamt|summary/i.test(sig) ? 2 : /sub-?total/i.test(sig) ? 0 : 1;
    if (!best || grand > best.grand) best = { v, grand };
  }
  return best ? best.v : null;
}
