/**
 * The gesture event shape sent to the vault, its validation, and helpers to build one.
 * {"id", "type", "ts", "category"?, "origin", "path", "dwell_ms"?, "scroll"?, "query"?, "product"?, "value"?}
 */
import { minimiseUrl } from './lib/minimise.js';

export const GESTURE_TYPES = ['search', 'page_view', 'product_view', 'compare', 'review_read', 'price_check',
  'wishlist_add', 'cart_add', 'cart_remove', 'cart_abandon', 'checkout_start', 'purchase', 'return', 'review_write',
  'share', 'referral', 'return_visit', 'declared_intent'];

/** RFC 4122 v4 uuid from crypto.getRandomValues (available in extension pages, workers and node). */
export function uuid() {
  if (globalThis.crypto?.randomUUID) return globalThis.crypto.randomUUID();
  const b = new Uint8Array(16);
  globalThis.crypto.getRandomValues(b);
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** RFC 3339 UTC timestamp with millisecond precision ("2026-11-25T13:22:39.123Z"). */
export const rfc3339 = (ms = Date.now()) => new Date(ms).toISOString();

const ISO4217 = /^[A-Z]{3}$/;

function cleanProduct(p) {
  if (!p || typeof p !== 'object') return undefined;
  const str = (v, max) => (typeof v === 'string' && v.trim() ? v.replace(/\s+/g, ' ').trim().slice(0, max) : undefined);
  const out = {
    name: str(p.name, 200),
    brand: str(p.brand, 120),
    price: typeof p.price === 'number' && Number.isFinite(p.price) && p.price >= 0 ? p.price : undefined,
    currency: typeof p.currency === 'string' && ISO4217.test(p.currency) ? p.currency : undefined,
    category_hint: str(p.category_hint, 200),
    sku: str(p.sku, 80),
  };
  for (const k of Object.keys(out)) if (out[k] === undefined) delete out[k];
  return Object.keys(out).length ? out : undefined;
}

/**
 * Build a gesture from a capture observation and the page URL. The URL is minimised here
 * (origin + path template); nothing else from it survives.
 * @returns {object|null}
 */
export function buildGesture(obs, pageUrl, { now = Date.now(), id = uuid(), category } = {}) {
  if (!obs || !GESTURE_TYPES.includes(obs.type)) return null;
  const loc = minimiseUrl(pageUrl);
  if (!loc) return null;
  const ev = { id, type: obs.type, ts: rfc3339(now) };
  if (category) ev.category = category;
  ev.origin = loc.origin;
  ev.path = loc.path;
  if (Number.isInteger(obs.dwell_ms) && obs.dwell_ms >= 0) ev.dwell_ms = obs.dwell_ms;
  if (typeof obs.scroll === 'number' && obs.scroll >= 0 && obs.scroll <= 1) ev.scroll = Math.round(obs.scroll * 100) / 100;
  if (typeof obs.query === 'string' && obs.query.trim()) ev.query = obs.query.trim().slice(0, 200);
  const product = cleanProduct(obs.product);
  if (product) ev.product = product;
  if (typeof obs.value === 'number' && Number.isFinite(obs.value) && obs.value >= 0) ev.value = obs.value;
  return ev;
}

const ALLOWED = new Set(['id', 'type', 'ts', 'category', 'origin', 'path', 'dwell_ms', 'scroll', 'query', 'product', 'value']);

/** Returns a list of problems (empty when the event has the exact wire shape). */
export function validateGesture(ev) {
  const errs = [];
  if (!ev || typeof ev !== 'object') return ['not an object'];
  for (const k of Object.keys(ev)) if (!ALLOWED.has(k)) errs.push(`unexpected field ${k}`);
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(ev.id || '')) errs.push('id');
  if (!GESTURE_TYPES.includes(ev.type)) errs.push('type');
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/.test(ev.ts || '')) errs.push('ts');
  if (!/^https?:\/\/[^/?#]+$/.test(ev.origin || '')) errs.push('origin');
  if (typeof ev.path !== 'string' || !ev.path.startsWith('/') || /[?#]/.test(ev.path)) errs.push('path');
  if ('scroll' in ev && !(ev.scroll >= 0 && ev.scroll <= 1)) errs.push('scroll');
  if ('dwell_ms' in ev && !Number.isInteger(ev.dwell_ms)) errs.push('dwell_ms');
  if ('product' in ev && ev.product.currency && !ISO4217.test(ev.product.currency)) errs.push('currency');
  return errs;
}
