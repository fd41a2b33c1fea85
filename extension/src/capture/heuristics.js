/**
 * Content-script extractor: careful fallback for product pages without usable markup.
 * Looks for a visible price in elements whose id/class/itemprop says "price" (in many languages),
 * skipping struck-through/old/unit/shipping prices and page chrome, and prefers candidates that
 * carry a currency marker and sit close after the main heading. Never reads more than short
 * snippets of text, and returns only numbers and codes.
 */
import { clean, inPeripheral, meta, pageContext } from './dom.js';
import { parsePrice } from './price.js';
import { ISO_CODES, currencyMarker } from './currency.js';

const PRICE_WORD = /(price|preis|prix|precio|prezzo|preco|preço|prijs|cena|cijena|hinta|pris|fiyat|цена|ціна|kaina|hind|ár|pret|preț|amount|cost)/i;
const BAD_WORD = /(old|was|before|regular|list|strike|crossed|line-?through|original|rrp|uvp|msrp|save|saving|discount|rebate|unit|per-?(kg|l|m|100)|base-?price|grundpreis|shipping|delivery|versand|livraison|envio|instal|monthly|month|finance|klarna|coupon|voucher|range|from-price|compare|strikethrough|reference|vorher|statt|ancien|barr|tachado|sconto|points|bonus|label|filter|(min|max)-?price|price-?(min|max)|tax-?info|vat-?info|excl|without-?tax|tax-?ex|ex-?tax|ex-?vat|net-?price|price-?net|netto|bid|gebot|enchere|puja)/i;
const GOOD_WORD = /(sale|current|final|now|actual|special|our|offer|buy|deal|main|product-?price|price-?current|selling|amount|value|big|large|primary|pdp|new(?!s)|incl)/i;
/**
 * A price said to exclude tax ("excl. VAT", "ohne MwSt.", "Brez DDV", "HT", "sans TVA") is a net price shown
 * next to the price a shopper pays; an auction's bid ("Current bid", "Aktuelles Gebot") is not a price.
 */
const NET_TEXT = /(?:\b(?:excl?\.?|excluding|exkl\.?|ohne|zzgl\.?|brez|bez|sans|sin|senza|sem|zonder|without|netto|net|ex\.?|hors|plus|\+)\s*(?:vat|mwst\.?|ust\.?|tva|taxes?|iva|btw|dph|ddv|pdv|áfa|moms|alv|gst|ндс|пдв)\b|\bHT\b|hors taxes?)/i;
const BID_TEXT = /(?:current|highest|starting|opening|winning)\s+bid|\bbids?\b|aktuelles gebot|\bgebote?\b|enchère|\bpuja\b|offerta attuale|ставка|licitaç|\bbod\b|入札|出价|竞拍/i;
const MONEY = /(?:[€£$¥₹₽₴₺₩₪฿₫₱₸₮৳₲]|\b(?:[A-Z]{3}|zł|kr|Kč|Ft|lei|Lei|Rs\.?|R\$|kn|Kn|TL|CHF|Fr\.|RM|Rp|руб|грн|лв)\b|ر\.س|د\.إ)\s?\d|\d[\d.,'\s\u00a0]*\s?(?:[€£$¥₹₽₴₺₩₪฿₫₱₸₮৳₲円元원]|(?:zł|kr|Kč|Ft|lei|Lei|Rs|kn|Kn|TL|CHF|EUR|USD|GBP|PLN|SEK|NOK|DKK|CZK|HUF|RON|KZT|KRW|руб|грн|лв|тг|тенге|ر\.س|د\.إ)(?![\p{L}]))/u;

function attrSig(el) {
  return `${el.id || ''} ${typeof el.className === 'string' ? el.className : ''} ${el.getAttribute('itemprop') || ''} ${el.getAttribute('data-testid') || ''} ${el.getAttribute('data-test') || ''} ${el.getAttribute('data-qa') || ''} ${el.getAttribute('data-price-type') || ''}`;
}

const numbers = (t) => (t.match(/\d[\d.,]*/g) || []).length;

/** The words that label a price element: its own text, the text just before it, and its parent's when that holds no other number. */
function labelText(el) {
  let t = clean(el.textContent, 120);
  const prev = el.previousSibling;
  if (prev && prev.textContent) t = `${clean(prev.textContent, 60)} ${t}`;
  // Only a small parent is read (a big container's text is neither a label nor cheap to read).
  const parent = el.parentElement && el.parentElement.childElementCount <= 6 ? clean(el.parentElement.textContent, 160) : '';
  if (parent && parent.length <= 120 && numbers(parent) <= numbers(t)) t = parent;
  return t;
}

/** The short text of the box a price sits in: up to the first ancestor that adds words to the price. */
function boxText(el) {
  const own = clean(el.textContent, 120);
  let t = own;
  for (let n = el.parentElement, i = 0; n && i < 3; n = n.parentElement, i++) {
    if (n.childElementCount > 6) break;
    const c = clean(n.textContent, 160);
    if (c.length > 120) break;
    t = c;
    if (c.length > own.length + 2) break;
  }
  return t;
}

function struck(el) {
  for (let n = el, i = 0; n && n.nodeType === 1 && i < 4; n = n.parentElement, i++) {
    const tag = n.tagName.toLowerCase();
    if (tag === 'del' || tag === 's' || tag === 'strike') return true;
    const style = n.getAttribute('style') || '';
    if (/line-through/.test(style)) return true;
  }
  return false;
}

const CENTS_CLASS = /(cent|fraction|decimal|minor|pennies|kopek|grosz|haler|rappen)/i;

/**
 * An element's price text as a shopper reads it: cents set apart in a superscript or a "fraction" element
 * ("$49<sup>99</sup>", "<span class=whole>1,299</span><span class=fraction>00</span>") get their decimal
 * separator back, which textContent drops ("$4999"). Small elements only; others give their textContent.
 */
export function priceText(el) {
  if (!el.firstElementChild || el.getElementsByTagName('*').length > 40) return el.textContent || '';
  let out = '';
  const walker = el.ownerDocument.createTreeWalker(el, 4 /* NodeFilter.SHOW_TEXT */);
  for (let t = walker.nextNode(), n = 0; t && n < 80; t = walker.nextNode(), n++) {
    const v = t.nodeValue || '';
    const parent = t.parentElement;
    if (parent && parent !== el && /^\s*\d{2}\s*$/.test(v) && /\d\s*$/.test(out)
      && (parent.tagName.toLowerCase() === 'sup' || CENTS_CLASS.test(typeof parent.className === 'string' ? parent.className : ''))) {
      // The integer part's own grouping tells the decimal separator: "1.299" + "00" -> "1.299,00".
      const int = out.match(/[\d.,'\s\u00a0]*$/)[0];
      out = `${out.replace(/\s+$/, '')}${/\.\d{3}\s*$/.test(int) && !/,/.test(int) ? ',' : '.'}${v.trim()}`;
      continue;
    }
    out += v;
  }
  return out;
}

/** Words before an amount that make it the list price or a saving, and words that make it the price to pay. */
const LIST_BEFORE = /(?:^|[^\p{L}])(?:was|before|previously|regular(?: price)?|list price|original(?: price)?|compare at|rrp|msrp|uvp|statt|vorher|bisher|avant|au lieu de|prix (?:barré|conseillé)|antes|precio (?:regular|anterior|normal)|prima|invece di|ordinarie(?: pris)?|normalpris|før|cena regularna|было|старая цена|save|you save|sie sparen|économisez|ahorra|risparmi|spar)\s*[:：]?\s*(?:\p{Sc}|[A-Za-z]{1,3}\.?\p{Sc}?)?\s*$/iu;
const PAY_BEFORE = /(?:^|[^\p{L}])(?:now|sale(?: price)?|our price|special(?: price)?|offer(?: price)?|deal(?: price)?|price now|jetzt|nur|aktionspreis|angebot|maintenant|prix promo|ahora|oferta|ora|agora|por|nu|teraz|сейчас)\s*[:：]?\s*(?:\p{Sc}|[A-Za-z]{1,3}\.?\p{Sc}?)?\s*$/iu;
/** A label that says the next element is the price ("Price:", "Preis:", "Prix :", "Cena:", "価格："). */
const PRICE_LABEL = /(?:^|[^\p{L}])(?:price|our price|sale price|preis|prix|precio|prezzo|preço|prijs|cena|cijena|hinta|pris|fiyat|цена|ціна|価格|价格|售價|售价|가격|giá)\s*[:：]\s*$/iu;

/** Whether the text or leaf right before an element labels it as the price. */
function labelledPrice(el) {
  const prev = el.previousSibling;
  if (!prev) return false;
  const t = prev.nodeType === 3 ? prev.nodeValue : prev.nodeType === 1 && prev.childElementCount === 0 ? prev.textContent : '';
  return !!t && t.length < 40 && PRICE_LABEL.test(t.replace(/\s+/g, ' '));
}

/** After an amount: a unit price ("12,99 €/kg", "$3.49 per lb", "2,50 € pro 100 g"). */
const UNIT_AFTER = /^\s?(?:\p{Sc}|[A-Za-z]{1,3}\.?)?\s?(?:\/|per\s|pro\s|par\s|za\s)\s?(?:\d+\s?)?(?:kg|g|l|ml|cl|m|m²|m2|lb|oz|st|stk|pc|pcs|piece|each|unit|ks|шт)(?![\p{L}])/iu;
/** Instalments: "12x de R$ 14,90", "or 4 payments of $12.50", "$25/mo", "199 € / Monat", "sin interés". */
const INSTALMENT_BEFORE = /(?:^|[\s\d])(?:[x×]\s?(?:de\s)?|(?:payments?|instal+ments?|cuotas|parcelas|raten|rate|mensualités)\s+(?:of|de|à|von|da)\s*)(?:\p{Sc}|[A-Za-z]{1,3}\.?\p{Sc}?)?\s*$/iu;
const INSTALMENT_AFTER = /^\s?(?:\p{Sc}|[A-Za-z]{1,3}\.?)?\s?(?:\/\s?(?:mo|mth|month|mes|mês|monat|mois|mese)\b|(?:a|per|al|por|pro|par)\s(?:month|mes|mês|monat|mois|mese)|mensuales|sem juros|sin inter[eé]s|senza interessi)/iu;

/** After a number: it counts instalments ("12x", "4 payments"), it is no amount. */
const COUNT_AFTER = /^\s?(?:[x×]|payments?|instal+ments?|cuotas|parcelas|raten|rate|mensualit[eé]s)(?![\p{L}])/iu;

/**
 * The price to pay in a text that may hold several amounts ("Was £60.00 Now £45.00", "Regular price $80
 * Sale price $60", "de R$ 199,90 por R$ 149,90", "R$ 179,90 ou 12x de R$ 14,99"): an amount the words before
 * it call the current price, else the first one they do not call a list price or a saving, that is not an
 * instalment and not a price per unit (which is used only when it is all there is). Percentages and counts
 * ("12x") are not amounts.
 */
export function amountToPay(text) {
  const amounts = [];
  let last = 0;
  for (const m of String(text).matchAll(/\d[\d.,'\s\u00a0]*\d|\d/g)) {
    const end = m.index + m[0].length;
    const after = text.slice(end, end + 24);
    const before = text.slice(Math.max(last, m.index - 30), m.index);
    last = end;
    if (/^\s?%/.test(after) || /^\s?(?:off|de descuento|rabatt)/i.test(after) || COUNT_AFTER.test(after)) continue;
    const value = parsePrice(m[0].trim());
    if (value === null) continue;
    amounts.push({
      value, list: LIST_BEFORE.test(before), pay: PAY_BEFORE.test(before), unit: UNIT_AFTER.test(after),
      instalment: INSTALMENT_BEFORE.test(before) || INSTALMENT_AFTER.test(after),
    });
    if (amounts.length >= 6) break;
  }
  const whole = amounts.filter((a) => !a.unit && !a.instalment);
  const pick = whole.find((a) => a.pay) || whole.find((a) => !a.list) || amounts.find((a) => a.unit && !a.list && !a.instalment);
  return pick ? pick.value : null;
}

/**
 * A currency the page declares anywhere (an itemprop=priceCurrency, a price:currency meta tag, a priceCurrency
 * in any JSON-LD node): decides what a shared symbol ("$", "kr", "¥") means on this page.
 */
export function declaredCurrency(doc) {
  const codes = [];
  const el = doc.querySelector('[itemprop=priceCurrency]');
  if (el) codes.push(el.getAttribute('content') || el.textContent);
  for (const k of ['product:price:currency', 'og:price:currency']) {
    const v = meta(doc, k);
    if (v) codes.push(v);
  }
  let n = 0;
  for (const script of doc.querySelectorAll('script[type="application/ld+json"]')) {
    if (++n > 20) break;
    const m = (script.textContent || '').slice(0, 200000).match(/"priceCurrency"\s*:\s*"([A-Za-z]{3})"/);
    if (m) codes.push(m[1]);
  }
  for (const c of codes) {
    const code = String(c || '').trim().toUpperCase();
    if (ISO_CODES.has(code)) return code;
  }
  return null;
}

/** Main heading: the first h1 outside page chrome, else og:title. */
export function mainHeading(doc) {
  let first = null;
  for (const h of doc.querySelectorAll('h1')) {
    const t = clean(h.textContent, 200);
    if (!t || inPeripheral(h) || h.closest('[hidden], [aria-hidden=true], [style*="display:none"], [style*="display: none"], [role=dialog], [class*=popover i], [class*=modal i]')) continue;
    // A heading that says it is the product's title beats a generic first heading.
    const sig = `${h.id} ${typeof h.className === 'string' ? h.className : ''} ${h.getAttribute('itemprop') || ''}`;
    if (/title|name|product|heading/i.test(sig)) return { el: h, text: t };
    if (!first) first = { el: h, text: t };
  }
  if (first) return first;
  const og = meta(doc, 'og:title') || meta(doc, 'twitter:title');
  return { el: null, text: og ? clean(og, 200) : clean(doc.title, 200) };
}

/**
 * @param {Document} doc
 * @param {string} [url]
 * @returns {{name: string, price: number|null, currency: string|null, score: number, candidates: number}}
 */
export function extractHeuristics(doc, url, opts = {}) {
  const ctx = { ...pageContext(doc, url), pageCurrency: opts.pageCurrency || declaredCurrency(doc) || undefined };
  const heading = mainHeading(doc);
  const all = doc.body ? doc.body.getElementsByTagName('*') : [];
  const headingIndex = heading.el ? Array.prototype.indexOf.call(all, heading.el) : -1;
  const candidates = [];
  const limit = Math.min(all.length, 60000);
  for (let i = 0; i < limit; i++) {
    const el = all[i];
    const tag = el.tagName.toLowerCase();
    if (tag === 'script' || tag === 'style' || tag === 'noscript' || tag === 'option' || tag === 'template') continue;
    const sig = attrSig(el);
    // A price kept in an attribute (price="44890", data-price="12.99"): a machine number, no text.
    const attrPrice = el.getAttribute('price') ?? el.getAttribute('data-price') ?? el.getAttribute('data-price-amount');
    // An element that only a "Price:" label before it calls a price (a spec box in a review says that too).
    const viaLabel = !PRICE_WORD.test(sig) && attrPrice === null;
    if (viaLabel && !(el.childElementCount <= 2 && labelledPrice(el))) continue;
    const text = clean(attrPrice !== null && /^\s*\d+(\.\d+)?\s*$/.test(attrPrice) ? attrPrice : (el.getAttribute('content') || priceText(el)), 80);
    if (!text || text.length > 60 || !/\d/.test(text)) continue;
    const money = MONEY.test(text) || currencyMarker(text, ctx).iso !== null;
    const isPriceProp = el.getAttribute('itemprop') === 'price' || (attrPrice !== null && text === attrPrice.trim());
    // A price element holds a price, not a sentence: few letters besides a currency marker.
    if (!money && !isPriceProp && text.replace(/[\d\s.,'’:;()\-–—/*+]/g, '').length > 3) continue;
    let score = 0;
    if (money) score += 3;
    if (BAD_WORD.test(sig)) score -= 6;
    if (GOOD_WORD.test(sig)) score += 2;
    if (struck(el)) score -= 8;
    if (NET_TEXT.test(labelText(el))) score -= 6;
    if (BID_TEXT.test(boxText(el))) score -= 6;
    if (inPeripheral(el)) score -= 6;
    if (isPriceProp) score += 3;
    // Leaf-ish elements are cleaner than containers holding old+new prices.
    if (el.children.length === 0) score += 1;
    if (headingIndex >= 0) {
      const d = i - headingIndex;
      if (d >= 0 && d < 400) score += 2; else if (d < 0 && d > -200) score += 1; else score -= 1;
    }
    const value = isPriceProp && /^\d+(\.\d+)?$/.test(text) ? Number(text) : amountToPay(text.replace(/\s*[-–—]\s*\d[\s\S]*$/, ''));
    if (value === null || value === 0 || value > 10_000_000) continue;
    candidates.push({ i, score, value, text, sig: sig.replace(/\s+/g, ' ').trim(), viaLabel });
  }
  // A signature repeated on three or more different prices is a grid of other products (related items,
  // bundles) without a class that says so, not the page's own price.
  const bySig = new Map();
  for (const c of candidates) {
    if (!c.sig) continue;
    const vals = bySig.get(c.sig) || new Set();
    vals.add(c.value);
    bySig.set(c.sig, vals);
  }
  for (const c of candidates) if (c.sig && bySig.get(c.sig).size >= 3) c.score -= 5;
  candidates.sort((a, b) => b.score - a.score || a.i - b.i);
  const best = candidates.find((c) => c.score > 0);
  let currency = null;
  let currencyFrom = null;
  if (best) {
    let m = currencyMarker(best.text, ctx);
    if (!m.iso) m = currencyMarker(clean(all[best.i].textContent, 80), ctx);
    if (!m.iso) {
      const el = all[best.i];
      const around = clean(el.parentElement ? el.parentElement.textContent : '', 80);
      if (around.length < 80) m = currencyMarker(around, ctx);
    }
    currency = m.iso;
    currencyFrom = m.iso ? `visible ${m.how}` : null;
    if (!currency && opts.pageCurrency) { currency = opts.pageCurrency; currencyFrom = 'markup'; }
  }
  const out = { name: heading.text, price: best ? best.value : null, currency, currencyFrom, score: best ? best.score : 0, candidates: candidates.length, viaLabel: !!best?.viaLabel };
  if (opts.debug) out.top = candidates.slice(0, 12);
  return out;
}
