#!/usr/bin/env node
/**
 * Extractor benchmark: runs the extension's real capture modules (jsdom from extension/node_modules)
 * on the shared real-page set, read in place from ../shared/pages (relative to the repo root), and
 * prints per-field precision/recall/F1 (price, currency, brand, sku, overall and per page language), the
 * page verdict (analysePage: product pages recognised, articles recorded as anything) and the misses.
 *
 *   node bench/extractors/run.mjs [--pages DIR] [--split dev|holdout|all] [--verbose] [--json]
 *
 * --split: a fixed half of the pages by id (last hex digit even = dev, odd = holdout). Rules are tuned
 * looking only at the dev half's misses; the holdout half is the check against fitting the dev pages.
 */
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createRequire } from 'node:module';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, '..', '..');
const extDir = join(repoRoot, 'extension');
const args = process.argv.slice(2);
const argValue = (name) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : undefined; };
// ../shared/pages next to the repository, also from a git worktree one level further down.
const pagesDir = resolve(argValue('--pages') || [join(repoRoot, '..', 'shared', 'pages'), join(repoRoot, '..', '..', 'shared', 'pages')]
  .find((d) => existsSync(join(d, 'labels.json'))) || join(repoRoot, '..', 'shared', 'pages'));
const split = argValue('--split') || 'all';
const inSplit = (id) => split === 'all' || ((parseInt(id.at(-1), 16) % 2 === 0) === (split === 'dev'));
const verbose = args.includes('--verbose');

if (!existsSync(join(pagesDir, 'labels.json'))) {
  console.error(`no labels.json in ${pagesDir}`);
  process.exit(2);
}
const require = createRequire(join(extDir, 'package.json'));
const { JSDOM, VirtualConsole } = require('jsdom');
const { analysePage } = await import(pathToFileURL(join(extDir, 'src/capture/page.js')).href);
const { parsePrice } = await import(pathToFileURL(join(extDir, 'src/capture/price.js')).href);
const { normalizeCurrency } = await import(pathToFileURL(join(extDir, 'src/capture/currency.js')).href);

const labels = JSON.parse(readFileSync(join(pagesDir, 'labels.json'), 'utf8'));

const DOLLARS = ['USD', 'CAD', 'AUD', 'NZD', 'MXN', 'CLP', 'ARS', 'COP', 'UYU', 'SGD', 'HKD', 'TWD', 'DOP'];
/** Acceptable ISO codes for a label written "as shown on the page". */
function currencyCodes(label) {
  const s = String(label).trim();
  if (s === '$') return DOLLARS;
  if (/^kr\.?$/i.test(s)) return ['SEK', 'NOK', 'DKK', 'ISK'];
  if (/^rs\.?$/i.test(s)) return ['INR', 'PKR', 'LKR', 'NPR'];
  if (s === '¥' || s === '￥') return ['JPY', 'CNY'];
  const iso = normalizeCurrency(s);
  return iso ? [iso] : [s.toUpperCase()];
}
function priceValues(label) {
  const out = new Set();
  const s = String(label).trim();
  if (/^\d+(\.\d+)?$/.test(s)) out.add(Math.round(Number(s) * 100) / 100);
  const p = parsePrice(s);
  if (p !== null) out.add(p);
  return [...out];
}
const norm = (s) => String(s ?? '').normalize('NFKC').toLowerCase().replace(/\s+/g, ' ').trim();

const FIELDS = {
  price: { pred: (p) => p?.price ?? null, ok: (v, labs) => labs.some((l) => priceValues(l).some((x) => Math.abs(x - v) < 0.005)) },
  currency: { pred: (p) => p?.currency || null, ok: (v, labs) => labs.some((l) => currencyCodes(l).includes(v)) },
  brand: { pred: (p) => p?.brand || null, ok: (v, labs) => labs.some((l) => norm(l) === norm(v)) },
  sku: { pred: (p) => p?.sku || null, ok: (v, labs) => labs.some((l) => norm(l) === norm(v)) },
};
const newStats = () => Object.fromEntries(Object.keys(FIELDS).map((f) => [f, { tp: 0, fp: 0, fn: 0 }]));
const stats = newStats();
const byLang = {};
const kinds = { product: { n: 0, asProduct: 0, recorded: 0 }, article: { n: 0, asProduct: 0, recorded: 0 } };
const misses = [];
const times = [];
const t0 = Date.now();

for (const [id, lab] of Object.entries(labels)) {
  const file = join(pagesDir, lab.kind, `${id}.html.gz`);
  if (!existsSync(file) || !inSplit(id)) continue;
  const html = gunzipSync(readFileSync(file)).toString('utf8');
  const dom = new JSDOM(html, { url: lab.url || 'https://example.invalid/', virtualConsole: new VirtualConsole() });
  const t1 = performance.now();
  const lang = (dom.window.document.documentElement.getAttribute('lang') || '?').slice(0, 2).toLowerCase() || '?';
  let res;
  try { res = analysePage(dom.window.document, lab.url || 'https://example.invalid/'); } catch (e) { res = { kind: 'error', observations: [], product: null }; misses.push(`${id} error ${e.message}`); }
  times.push(performance.now() - t1);
  dom.window.close();
  kinds[lab.kind].n++;
  if (res.kind === 'product') kinds[lab.kind].asProduct++;
  if (res.observations.length) kinds[lab.kind].recorded++;
  if (lab.kind === 'article') {
    if (res.observations.length) misses.push(`${id} article recorded as ${res.kind} (${res.observations.map((o) => o.type).join(',')}) ${lab.url}`);
    continue;
  }
  if (res.kind !== 'product') misses.push(`${id} product page taken for ${res.kind} ${lab.url}`);
  const langStats = (byLang[lang] ||= { pages: 0, ...newStats() });
  langStats.pages++;
  for (const [field, spec] of Object.entries(FIELDS)) {
    const v = res.kind === 'product' ? spec.pred(res.product) : null;
    const labs = lab[field] || [];
    for (const s of [stats[field], langStats[field]]) {
      if (v !== null && v !== undefined) {
        if (labs.length && spec.ok(v, labs)) s.tp++;
        else { s.fp++; if (labs.length) s.fn++; }
      } else if (labs.length) s.fn++;
    }
    if (verbose && v !== null && v !== undefined && !(labs.length && spec.ok(v, labs))) misses.push(`${id} ${field}: got ${JSON.stringify(v)} want ${JSON.stringify(labs)}`);
    else if (verbose && (v === null || v === undefined) && labs.length) misses.push(`${id} ${field}: missing, want ${JSON.stringify(labs)} (${res.kind})`);
  }
}

const f = (x) => x.toFixed(3);
function prf(s) {
  const p = s.tp + s.fp ? s.tp / (s.tp + s.fp) : 0;
  const r = s.tp + s.fn ? s.tp / (s.tp + s.fn) : 0;
  return { precision: p, recall: r, f1: p + r ? (2 * p * r) / (p + r) : 0 };
}
const rows = [];
for (const [field, s] of Object.entries(stats)) rows.push({ field, tp: s.tp, fp: s.fp, fn: s.fn, ...prf(s) });
// Page recognition: a product page recognised is a TP, an article taken for a product an FP.
const page = { tp: kinds.product.asProduct, fp: kinds.article.asProduct, fn: kinds.product.n - kinds.product.asProduct };
const pageScore = prf(page);
times.sort((a, b) => a - b);
const pct = (p) => (times.length ? times[Math.min(times.length - 1, Math.floor(p * times.length))] : 0);
const productRecall = kinds.product.n ? kinds.product.asProduct / kinds.product.n : 0;
const articleOk = kinds.article.n - kinds.article.asProduct;
const accuracy = (kinds.product.asProduct + articleOk) / (kinds.product.n + kinds.article.n || 1);
if (args.includes('--json')) {
  console.log(JSON.stringify({ pagesDir, split, fields: rows, page: { ...page, ...pageScore }, kinds, accuracy, byLang, ms: { median: pct(0.5), p95: pct(0.95) } }, null, 2));
} else {
  console.log(`pages: ${kinds.product.n} product, ${kinds.article.n} article (${pagesDir}, split ${split}), ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  console.log('| field | TP | FP | FN | precision | recall | F1 |');
  console.log('|---|---|---|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.field} | ${r.tp} | ${r.fp} | ${r.fn} | ${f(r.precision)} | ${f(r.recall)} | ${f(r.f1)} |`);
  console.log('');
  console.log(`| page kind | pages | classified product |`);
  console.log('|---|---|---|');
  console.log(`| product | ${kinds.product.n} | ${kinds.product.asProduct} (recall ${f(productRecall)}) |`);
  console.log(`| article | ${kinds.article.n} | ${kinds.article.asProduct} (must be 0); recorded as any gesture: ${kinds.article.recorded} (must be 0) |`);
  console.log(`\nproduct page recognition: precision ${f(pageScore.precision)}, recall ${f(pageScore.recall)}, F1 ${f(pageScore.f1)}; product-vs-article accuracy ${f(accuracy)}`);
  console.log('\n| language | product pages | price F1 | currency F1 | brand F1 | sku F1 |');
  console.log('|---|---|---|---|---|---|');
  for (const [lang, l] of Object.entries(byLang).sort((a, b) => b[1].pages - a[1].pages)) {
    console.log(`| ${lang} | ${l.pages} | ${['price', 'currency', 'brand', 'sku'].map((k) => (l[k].tp + l[k].fp + l[k].fn ? f(prf(l[k]).f1) : '–')).join(' | ')} |`);
  }
  console.log(`extraction time per page in jsdom (parse excluded): median ${pct(0.5).toFixed(0)} ms, p95 ${pct(0.95).toFixed(0)} ms`);
  if (misses.length) console.log(`\n${misses.join('\n')}`);
}
if (kinds.article.asProduct > 0 || kinds.article.recorded > 0) process.exitCode = 1;
