/**
 * Local, deterministic classification of a gesture into the taxonomy built from
 * policies/taxonomy.yaml (see scripts/policy.mjs). Signals, strongest first: the page's own product
 * category (JSON-LD category, breadcrumb) against google_product_category/schema_org hints and terms,
 * then keywords and synonyms in the product name and search query. Same input, same answer.
 */

/** Lower case, accents folded, punctuation to spaces, padded for whole-word matching. */
export function normalizeText(s) {
  return ` ${String(s || '').toLowerCase().normalize('NFKD').replace(/[\u0300-\u036f]/g, '')
    .replace(/ß/g, 'ss').replace(/[^\p{L}\p{N}]+/gu, ' ').trim()} `;
}

/**
 * Prepare a policy ({categories, sensitive}) for fast matching. Accepts the compiled policy the
 * build writes (policy.json) or the raw YAML shape.
 */
export function compileTaxonomy(policy) {
  const cats = policy.categories || [];
  const byId = new Map();
  for (const c of cats) {
    const terms = new Set();
    const add = (t) => { const n = normalizeText(t); if (n.trim().length >= 2) terms.add(n); };
    for (const k of c.keywords || []) add(k);
    const syn = c.synonyms || {};
    if (Array.isArray(syn)) syn.forEach(add);
    else for (const list of Object.values(syn)) for (const k of list || []) add(k);
    const hints = [];
    const gpc = c.google_product_category;
    for (const h of [].concat(gpc || [], c.schema_org || [], c.schema_hints || [])) if (h) hints.push(normalizeText(h));
    byId.set(c.id, { id: c.id, parent: c.parent || null, name: c.name || c.id, terms: [...terms], hints,
      sensitiveFlag: !!c.sensitive });
  }
  const sensitiveRoots = new Set((policy.sensitive || []).map((s) => (typeof s === 'string' ? s : s.id)));
  for (const c of byId.values()) if (c.sensitiveFlag) sensitiveRoots.add(c.id);
  const depth = (id) => { let d = 0; for (let c = byId.get(id); c && c.parent && d < 20; c = byId.get(c.parent)) d++; return d; };
  for (const c of byId.values()) c.depth = depth(c.id);
  return { byId, sensitiveRoots, version: policy.version || null };
}

/** The sensitive root that covers a category (itself or an ancestor), or null. */
export function sensitiveRootOf(tax, id) {
  for (let c = tax.byId.get(id), i = 0; c && i < 20; c = tax.byId.get(c.parent), i++) {
    if (tax.sensitiveRoots.has(c.id)) return c.id;
  }
  // Dotted ids: "health.pharmacy" is under "health" even if the node is missing.
  for (const root of tax.sensitiveRoots) if (id === root || String(id).startsWith(`${root}.`)) return root;
  return null;
}

/** A normalised text with its tokens, prepared once per input. */
function prepared(text) {
  return { text, tokens: text.trim() ? text.trim().split(' ') : [] };
}

function termScore(p, term, weight) {
  if (!p.tokens.length) return 0;
  if (p.text.includes(term)) return weight * (1 + 0.25 * (term.trim().split(' ').length - 1));
  const t = term.trim();
  if (t.includes(' ') || t.length < 3) return 0;
  for (const tk of p.tokens) {
    // Plurals of single words ("pans" for "pan", "boxes" for "box").
    if (tk.length === t.length + 1 && tk === `${t}s`) return weight;
    if (tk.length === t.length + 2 && tk === `${t}es`) return weight;
    // Compound words (de/nl/pl...): "hochdruckreiniger" ends with "reiniger".
    if (t.length >= 6 && tk.length >= t.length + 3 && tk.endsWith(t)) return weight * 0.75;
  }
  return 0;
}

/** The most specific part of a category path ("A > B > C" -> "C"), for a bonus. */
function lastSegment(hint) {
  const parts = String(hint || '').split(/\s*(?:>|\/|\||»|›|,)\s*/).filter(Boolean);
  return parts.length ? normalizeText(parts[parts.length - 1]) : ' ';
}

/** The product name without its brand: brand words ("Jack Daniel's") say nothing about the category. */
function withoutBrand(name, brand) {
  const n = normalizeText(name);
  const b = normalizeText(brand).trim();
  if (!b) return n;
  return n.split(` ${b} `).join(' ');
}

/**
 * @param {{byId: Map}} tax compiled taxonomy
 * @param {{category_hint?: string, name?: string, brand?: string, query?: string, breadcrumbs?: string[]}} input
 * @returns {{id: string, score: number}|null}
 */
export function classify(tax, input) {
  const hintText = normalizeText([input.category_hint || '', ...(input.breadcrumbs || [])].join(' '));
  const hint = prepared(hintText);
  const specific = prepared(lastSegment(input.category_hint || (input.breadcrumbs || []).slice(-1)[0] || ''));
  const name = prepared(withoutBrand(input.name || '', input.brand || ''));
  const query = prepared(normalizeText(input.query || ''));
  const own = new Map();
  for (const c of tax.byId.values()) {
    let s = 0;
    if (hint.tokens.length) {
      for (const h of c.hints) {
        if (h === hintText) s += 8;
        else if (hintText.includes(` ${h.trim().split(' ').slice(-2).join(' ')} `)) s += 3;
      }
      for (const t of c.terms) {
        const hs = termScore(hint, t, 3);
        s += hs;
        if (hs && termScore(specific, t, 1)) s += 1; // the deepest breadcrumb is the most specific
      }
    }
    for (const t of c.terms) {
      s += termScore(name, t, 2);
      s += termScore(query, t, 2);
    }
    if (s > 0) own.set(c.id, s);
  }
  let best = null;
  for (const c of tax.byId.values()) {
    let s = own.get(c.id) || 0;
    if (!s) continue;
    // Evidence for the parent supports the child ("electronics" + "tv" -> electronics.tv).
    for (let p = tax.byId.get(c.parent), i = 0; p && i < 10; p = tax.byId.get(p.parent), i++) s += 0.5 * (own.get(p.id) || 0);
    const cand = { id: c.id, score: Math.round(s * 100) / 100, depth: c.depth };
    if (!best || cand.score > best.score || (cand.score === best.score && (cand.depth > best.depth
      || (cand.depth === best.depth && cand.id < best.id)))) best = cand;
  }
  if (!best || best.score < 2) return null;
  return { id: best.id, score: best.score };
}
