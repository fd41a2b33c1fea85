/**
 * Content-script extractor: schema.org microdata (itemscope/itemtype/itemprop) and RDFa Lite
 * (typeof/property). Items are converted to plain objects and normalised with the same code as
 * JSON-LD. Items inside ad boxes, asides and recommendation carousels are flagged `peripheral`.
 */
import { clean, inPeripheral, pageContext } from './dom.js';
import { isProductNode, productFromNode, isArticleNode } from './schema.js';

const MAX_ITEMS = 400;
const MAX_PROPS = 2000;

function propValue(el, attrs) {
  if (el.hasAttribute(attrs.scope)) return itemToObject(el, attrs, 0);
  if (el.hasAttribute('content')) return el.getAttribute('content');
  const tag = el.tagName.toLowerCase();
  if (tag === 'meta') return el.getAttribute('content') || '';
  if (tag === 'link' || tag === 'a') return el.getAttribute('href') || clean(el.textContent, 200);
  if (tag === 'img') return el.getAttribute('src') || '';
  if (tag === 'data' || tag === 'meter' || tag === 'input') return el.getAttribute('value') || clean(el.textContent, 200);
  if (tag === 'time') return el.getAttribute('datetime') || clean(el.textContent, 200);
  return clean(el.textContent, 300);
}

const LIST_CLASS = /(^|[\s_-])(old|was|list|regular|strike|struck|crossed|line-?through|original|rrp|uvp|msrp|before|compare-?at|streich|ancien|barr)/i;

/** A price property shown as the list price: struck through or in an old/was/regular-price element below the item. */
function isListPrice(el, root) {
  for (let n = el, i = 0; n && n !== root && i < 5; n = n.parentElement, i++) {
    const tag = n.tagName.toLowerCase();
    if (tag === 'del' || tag === 's' || tag === 'strike') return true;
    if (/line-through/.test(n.getAttribute('style') || '')) return true;
    const sig = `${n.id || ''} ${typeof n.className === 'string' ? n.className : ''}`;
    if (LIST_CLASS.test(sig) && !/(sale|special|final|current|now|new)/i.test(sig)) return true;
  }
  return false;
}

function itemToObject(root, attrs, depth) {
  const typeAttr = root.getAttribute(attrs.type) || '';
  const obj = { '@type': typeAttr.split(/\s+/).filter(Boolean) };
  if (depth > 6) return obj;
  let count = 0;
  for (const el of root.querySelectorAll(`[${attrs.prop}]`)) {
    if (++count > MAX_PROPS) break;
    // Only direct properties: the nearest enclosing item scope must be root.
    const owner = el.parentElement && el.parentElement.closest(`[${attrs.scope}]`);
    if (owner !== root) continue;
    const value = el.hasAttribute(attrs.scope) ? itemToObject(el, attrs, depth + 1) : propValue(el, attrs);
    for (const name of (el.getAttribute(attrs.prop) || '').split(/\s+/).filter(Boolean)) {
      let key = name.split(/[/#:]/).pop();
      // A struck-through or old/was price next to the price to pay is kept aside, used only when alone.
      if ((key === 'price' || key === 'lowPrice') && isListPrice(el, root)) key = `_list_${key}`;
      if (obj[key] === undefined) obj[key] = value;
      else if (Array.isArray(obj[key])) obj[key].push(value);
      else obj[key] = [obj[key], value];
    }
  }
  for (const key of ['price', 'lowPrice']) if (obj[key] === undefined && obj[`_list_${key}`] !== undefined) obj[key] = obj[`_list_${key}`];
  return obj;
}

const MICRODATA = { scope: 'itemscope', type: 'itemtype', prop: 'itemprop' };
const RDFA = { scope: 'typeof', type: 'typeof', prop: 'property' };

/**
 * @param {Document} doc
 * @param {string} [url]
 * @returns {{products: object[], hasArticle: boolean}}
 */
export function extractMicrodata(doc, url) {
  const ctx = pageContext(doc, url);
  const products = [];
  let hasArticle = false;
  for (const attrs of [MICRODATA, RDFA]) {
    let n = 0;
    for (const el of doc.querySelectorAll(`[${attrs.scope}]`)) {
      if (++n > MAX_ITEMS) break;
      const typeAttr = el.getAttribute(attrs.type) || '';
      const probe = { '@type': typeAttr.split(/\s+/).filter(Boolean) };
      // Nested items (e.g. a Product inside an Offer list) are read from their own element as well.
      if (isArticleNode(probe) && !inPeripheral(el)) hasArticle = true;
      if (!isProductNode(probe)) continue;
      const obj = itemToObject(el, attrs, 0);
      const p = productFromNode(obj, ctx);
      if (!p.name && p.price === null) continue;
      // Microdata sometimes writes the price only as text ("119,01 €"): pick the currency from it.
      products.push({ ...p, peripheral: inPeripheral(el), nested: !!(el.parentElement && el.parentElement.closest(`[${attrs.scope}]`)) });
    }
  }
  products.sort((a, b) => a.peripheral - b.peripheral || (b.price !== null) - (a.price !== null) || a.nested - b.nested);
  return { products, hasArticle };
}
