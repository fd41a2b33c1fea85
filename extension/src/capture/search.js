/**
 * Content-script extractor: search queries, on web search engines and shop search, read only from
 * the URL with the readable patterns in src/config/search-patterns.json.
 */
import defaultPatterns from '../config/search-patterns.json' with { type: 'json' };
import { clean } from './dom.js';

const compiled = new WeakMap();
function compile(patterns) {
  let c = compiled.get(patterns);
  if (!c) {
    c = {
      engines: patterns.engines.map((e) => ({ ...e, hostRe: new RegExp(e.host, 'i'), pathRe: new RegExp(e.path, 'i') })),
      shopPath: new RegExp(patterns.shops.path, 'i'),
      shopParams: patterns.shops.params.map((p) => p.toLowerCase()),
      anywhere: (patterns.shops.anywhere_params || []).map((p) => p.toLowerCase()),
    };
    compiled.set(patterns, c);
  }
  return c;
}

/** Looks like an e-mail address, phone number, card number or similar: never recorded. */
export function looksPersonal(q) {
  return /[^\s@]+@[^\s@]+\.[^\s@]+/.test(q) || /(\d[\s-]?){9,}/.test(q);
}

/**
 * A query string as [name, value] pairs, decoded like URLSearchParams, in plain JS: in a Firefox content
 * script URLSearchParams iterators come through Xray wrappers and are not iterable ("keys() is not
 * iterable"), which made every page fail analysis there.
 */
export function queryPairs(search) {
  const out = [];
  for (const part of String(search || '').replace(/^[?#]/, '').split('&')) {
    if (!part) continue;
    const eq = part.indexOf('=');
    const dec = (x) => { try { return decodeURIComponent(x.replace(/\+/g, ' ')); } catch { return x; } };
    out.push([dec(eq < 0 ? part : part.slice(0, eq)), dec(eq < 0 ? '' : part.slice(eq + 1))]);
  }
  return out;
}

function paramCI(pairs, name) {
  for (const [k, v] of pairs) if (k.toLowerCase() === name) return v;
  return null;
}

function param(pairs, name) {
  for (const [k, v] of pairs) if (k === name) return v;
  return null;
}

/**
 * @param {string} url
 * @param {object} [patterns]
 * @returns {{query: string, engine: string}|null}
 */
export function detectSearch(url, patterns = defaultPatterns) {
  let u;
  try { u = new URL(url); } catch { return null; }
  if (!/^https?:$/.test(u.protocol)) return null;
  const c = compile(patterns);
  const params = queryPairs(u.search || (u.hash.includes('?') ? u.hash.slice(u.hash.indexOf('?')) : ''));
  const finish = (raw, engine) => {
    const q = clean(raw, 200);
    if (!q || looksPersonal(q)) return null;
    return { query: q, engine };
  };
  for (const e of c.engines) {
    if (!e.hostRe.test(u.hostname)) continue;
    if (!e.pathRe.test(u.pathname)) return null;
    for (const p of e.params) { const v = param(params, p); if (v) return finish(v, e.name); }
    return null;
  }
  const shopPath = c.shopPath.test(u.pathname);
  const names = shopPath ? c.shopParams : c.anywhere;
  for (const p of names) { const v = paramCI(params, p); if (v) return finish(v, 'shop'); }
  // "/search/red+shoes" style paths: the segment after the search marker.
  const m = u.pathname.match(/\/(search|suche|recherche|buscar|busca|ricerca|zoeken|szukaj|catalogsearch)\/([^/]{2,80})\/?$/i);
  if (m && !/^(result|results|index|page)(\.html?)?$/i.test(m[2])) {
    try { return finish(decodeURIComponent(m[2].replace(/\+/g, ' ')), 'shop'); } catch { return null; }
  }
  return null;
}

/** A page (other than the home page) on a price comparison or price-history site. */
export function isPriceComparison(url, patterns = defaultPatterns) {
  let u;
  try { u = new URL(url); } catch { return false; }
  const re = patterns.price_comparison?.hosts;
  return !!re && new RegExp(re, 'i').test(u.hostname) && u.pathname.replace(/\/+$/, '') !== '';
}
