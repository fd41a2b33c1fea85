#!/usr/bin/env node
/**
 * Extractor benchmark: runs the extension's real capture modules (jsdom from extension/node_modules)
 * on the shared real-page set, read in place from ../shared/pages (relative to the repo root), and
 * prints per-field precision/recall/F1 (price, currency, brand, sku) plus product-vs-article accuracy.
 *
 *   node bench/extractors/run.mjs [--pages DIR] [--verbose] [--json]
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
const pagesDir = resolve(argValue('--pages') || join(repoRoot, '..', 'shared', 'pages'));
const verbose = args.includes('--verbose');

if (!existsSync(join(pagesDir, 'labels.json'))) {
  console.error(`no labels.json in ${pagesDir}`);
  process.exit(2);
}
const require = createRequire(join(extDir, 'package.json'));
const { JSDOM, VirtualConsole } = require('jsdom');
const { detectProduct } = await import(pathToFileURL(join(extDir, 'src/capture/product.js')).href);
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
const stats = Object.fromEntries(Object.keys(FIELDS).map((f) => [f, { tp: 0, fp: 0, fn: 0 }]));
const kinds = { product: { n: 0, asProduct: 0 }, article: { n: 0, asProduct: 0 } };
const misses = [];
const times = [];
const t0 = Date.now();

for (const [id, lab] of Object.entries(labels)) {
  const file = join(pagesDir, lab.kind, `${id}.html.gz`);
  if (!existsSync(file)) continue;
  const html = gunzipSync(readFileSync(file)).toString('utf8');
  const dom = new JSDOM(html, { url: lab.url || 'https://example.invalid/', virtualConsole: new VirtualConsole() });
  const t1 = performance.now();
  const res = detectProduct(dom.window.document, lab.url || 'https://example.invalid/');
  times.push(performance.now() - t1);
  dom.window.close();
  kinds[lab.kind].n++;
  if (res.kind === 'product') kinds[lab.kind].asProduct++;
  if (lab.kind === 'article') {
    if (res.kind === 'product') misses.push(`${id} article classified as product (${res.reasons.join(',')})`);
    continue;
  }
  for (const [field, spec] of Object.entries(FIELDS)) {
    const v = res.kind === 'product' ? spec.pred(res.product) : null;
    const labs = lab[field] || [];
    const s = stats[field];
    if (v !== null && v !== undefined) {
      if (labs.length && spec.ok(v, labs)) s.tp++;
      else { s.fp++; if (labs.length) s.fn++; if (verbose) misses.push(`${id} ${field}: got ${JSON.stringify(v)} want ${JSON.stringify(labs)}`); }
    } else if (labs.length) { s.fn++; if (verbose) misses.push(`${id} ${field}: missing, want ${JSON.stringify(labs)} (${res.kind})`); }
  }
}

const f = (x) => x.toFixed(3);
const rows = [];
for (const [field, s] of Object.entries(stats)) {
  const p = s.tp + s.fp ? s.tp / (s.tp + s.fp) : 0;
  const r = s.tp + s.fn ? s.tp / (s.tp + s.fn) : 0;
  const f1 = p + r ? (2 * p * r) / (p + r) : 0;
  rows.push({ field, tp: s.tp, fp: s.fp, fn: s.fn, precision: p, recall: r, f1 });
}
times.sort((a, b) => a - b);
const pct = (p) => (times.length ? times[Math.min(times.length - 1, Math.floor(p * times.length))] : 0);
const productRecall = kinds.product.n ? kinds.product.asProduct / kinds.product.n : 0;
const articleOk = kinds.article.n - kinds.article.asProduct;
const accuracy = (kinds.product.asProduct + articleOk) / (kinds.product.n + kinds.article.n || 1);
if (args.includes('--json')) {
  console.log(JSON.stringify({ pagesDir, fields: rows, kinds, accuracy, ms: { median: pct(0.5), p95: pct(0.95) } }, null, 2));
} else {
  console.log(`pages: ${kinds.product.n} product, ${kinds.article.n} article (${pagesDir}), ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  console.log('| field | TP | FP | FN | precision | recall | F1 |');
  console.log('|---|---|---|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.field} | ${r.tp} | ${r.fp} | ${r.fn} | ${f(r.precision)} | ${f(r.recall)} | ${f(r.f1)} |`);
  console.log('');
  console.log(`| page kind | pages | classified product |`);
  console.log('|---|---|---|');
  console.log(`| product | ${kinds.product.n} | ${kinds.product.asProduct} (recall ${f(productRecall)}) |`);
  console.log(`| article | ${kinds.article.n} | ${kinds.article.asProduct} (must be 0) |`);
  console.log(`\nproduct-vs-article accuracy: ${f(accuracy)}; articles recorded as product: ${kinds.article.asProduct}`);
  console.log(`extraction time per page in jsdom (parse excluded): median ${pct(0.5).toFixed(0)} ms, p95 ${pct(0.95).toFixed(0)} ms`);
  if (misses.length) console.log(`\n${misses.join('\n')}`);
}
if (kinds.article.asProduct > 0) process.exitCode = 1;
