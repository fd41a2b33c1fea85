/**
 * Content-script extractor: schema.org JSON-LD. Finds Product nodes anywhere (top level, arrays,
 * @graph, mainEntity, itemOffered) and notes article types so the caller can refuse to treat an
 * article as a product. Bounded against hostile pages: per-script size cap and node budget.
 */
import { isArticleNode, isProductNode, productFromNode, typesOf } from './schema.js';
import { pageContext } from './dom.js';

export const MAX_SCRIPT_CHARS = 2_000_000;
const MAX_NODES = 50_000;
const MAX_DEPTH = 32;

const EDITORIAL_ROOTS = new Set(['review', 'criticreview', 'claimreview']);

/** Top-level nodes of a JSON-LD document: the object itself, array members, @graph members. */
function rootsOf(data) {
  const out = [];
  for (const d of Array.isArray(data) ? data.slice(0, 200) : [data]) {
    if (!d || typeof d !== 'object') continue;
    out.push(d);
    if (Array.isArray(d['@graph'])) out.push(...d['@graph'].slice(0, 500).filter((x) => x && typeof x === 'object'));
  }
  return out;
}

/** Parse one JSON-LD script body leniently (comments, CDATA, raw newlines in strings). */
export function parseJsonLd(text) {
  if (typeof text !== 'string' || text.length > MAX_SCRIPT_CHARS) return null;
  const body = text.trim().replace(/^<!--/, '').replace(/-->$/, '').replace(/^\/\/\s*<!\[CDATA\[/, '')
    .replace(/\/\/\s*\]\]>$/, '').replace(/^<!\[CDATA\[/, '').replace(/\]\]>$/, '').trim();
  if (!body) return null;
  try {
    return JSON.parse(body);
  } catch {
    try {
      // Raw control characters inside strings are the most common defect; trailing commas next.
      return JSON.parse(body.replace(/[\u0000-\u001f]+/g, ' ').replace(/,\s*([\]}])/g, '$1'));
    } catch {
      return null;
    }
  }
}

/** Walk parsed JSON-LD, calling visit(node) for every object; bounded by node count and depth. */
export function walk(root, visit) {
  let budget = MAX_NODES;
  const seen = new Set();
  const stack = [[root, 0]];
  while (stack.length && budget-- > 0) {
    const [node, depth] = stack.pop();
    if (!node || typeof node !== 'object' || depth > MAX_DEPTH || seen.has(node)) continue;
    seen.add(node);
    if (Array.isArray(node)) {
      for (let i = node.length - 1; i >= 0; i--) stack.push([node[i], depth + 1]);
      continue;
    }
    visit(node, depth);
    for (const key of Object.keys(node)) {
      const v = node[key];
      if (v && typeof v === 'object') stack.push([v, depth + 1]);
    }
  }
}

/**
 * @param {Document} doc
 * @param {string} [url]
 * @returns {{products: object[], types: string[], hasArticle: boolean, orders: object[], breadcrumbs: string[]}}
 */
export function extractJsonLd(doc, url) {
  const ctx = pageContext(doc, url);
  const products = [];
  const types = new Set();
  const orders = [];
  const breadcrumbs = [];
  let hasArticle = false;
  const variants = new Set();
  const docs = [];
  for (const script of doc.querySelectorAll('script[type]')) {
    const type = (script.getAttribute('type') || '').toLowerCase();
    if (!type.startsWith('application/ld+json')) continue;
    const data = parseJsonLd(script.textContent);
    if (data !== null) docs.push(data);
  }
  // Nodes named by "@id", so a reference ({"@id": "#brand"}) reads as the node it names.
  const byId = new Map();
  for (const data of docs) walk(data, (node) => { if (typeof node['@id'] === 'string' && Object.keys(node).length > 1 && !byId.has(node['@id'])) byId.set(node['@id'], node); });
  ctx.resolve = (v) => (v && typeof v === 'object' && !Array.isArray(v) && typeof v['@id'] === 'string' && Object.keys(v).length === 1 ? byId.get(v['@id']) || v : v);
  // Offers that name their product (an Offer node with itemOffered), for products stating no offers of their own.
  const parentOffers = new Map();
  for (const data of docs) {
    walk(data, (node) => {
      if (!node.itemOffered || !typesOf(node).some((t) => t === 'offer' || t === 'aggregateoffer')) return;
      for (const item of (Array.isArray(node.itemOffered) ? node.itemOffered : [node.itemOffered]).slice(0, 20)) {
        const p = ctx.resolve(item);
        if (!isProductNode(p) || p.offers) continue;
        if (!parentOffers.has(p)) parentOffers.set(p, []);
        parentOffers.get(p).push(node);
      }
    });
  }
  ctx.offersFor = (node) => parentOffers.get(node);
  for (const data of docs) {
    // A review that is the page's own subject (a root node, not one nested in a Product) is editorial.
    for (const root of rootsOf(data)) if (typesOf(root).some((t) => EDITORIAL_ROOTS.has(t)) && root.itemReviewed) hasArticle = true;
    walk(data, (node, depth) => {
      for (const t of typesOf(node)) types.add(t);
      if (isArticleNode(node) && depth <= 3) hasArticle = true;
      if (isProductNode(node) && !variants.has(node)) {
        const p = productFromNode(node, ctx);
        if (p.name || p.price !== null) products.push({ ...p, _depth: depth });
        // Variants of a ProductGroup inherit what the group states once (brand, category).
        const list = Array.isArray(node.hasVariant) ? node.hasVariant : node.hasVariant ? [node.hasVariant] : [];
        for (const v of list.slice(0, 200)) {
          if (!isProductNode(v)) continue;
          variants.add(v);
          const vp = productFromNode(v, ctx);
          for (const k of ['brand', 'category_hint', 'name', 'sku']) if (!vp[k] && p[k]) vp[k] = p[k];
          if (vp.price === null && p.price !== null) { vp.price = p.price; vp.currency = p.currency; }
          if (vp.name || vp.price !== null) products.push({ ...vp, _depth: depth + 1 });
        }
      }
      const t = typesOf(node);
      if (t.includes('order')) orders.push(node);
      if (t.includes('breadcrumblist') && Array.isArray(node.itemListElement)) {
        for (const li of node.itemListElement.slice(0, 12)) {
          const name = typeof li?.name === 'string' ? li.name : (typeof li?.item?.name === 'string' ? li.item.name : '');
          if (name) breadcrumbs.push(name.slice(0, 80));
        }
      }
    });
  }
  // The main product is usually the shallowest one that has a price.
  products.sort((a, b) => (b.price !== null) - (a.price !== null) || a._depth - b._depth);
  for (const p of products) delete p._depth;
  return { products, types: [...types], hasArticle, orders, breadcrumbs };
}
