/**
 * From a capture observation to a queued gesture: the privacy gate (paused, incognito,
 * never-record sites), local classification, the sensitive-category filter, minimisation, and the
 * gestures derived on the device (return_visit, price_check, cart_abandon). Keeps a short local
 * history for the popup's "recorded today" list.
 */
import { buildGesture } from './gesture.js';
import { classify, sensitiveRootOf } from './classify.js';
import { loadSettings, isPaused, isNeverRecord, optIns } from './settings.js';
import { hostOf, minimiseUrl } from './lib/minimise.js';

export const HISTORY_KEY = 'history';
export const MEMORY_KEY = 'memory';
export const HOLD_TYPES = new Set(['product_view', 'compare', 'review_read', 'page_view']);
export const HOLD_MS = 30 * 60_000;
const RETURN_MIN_MS = 30 * 60_000;
const RETURN_MAX_MS = 30 * 24 * 3600_000;
const PRICE_CHECK_MS = 14 * 24 * 3600_000;
export const ABANDON_MS = 24 * 3600_000;
const HISTORY_MAX = 500;
const HISTORY_MS = 7 * 24 * 3600_000;

const productKey = (p) => (p && (p.sku || p.name) ? String(p.sku || p.name).toLowerCase().replace(/\s+/g, ' ').trim().slice(0, 120) : '');

export class Recorder {
  constructor({ storage, queue, taxonomy, now = () => Date.now(), newId }) {
    this.storage = storage;
    this.queue = queue;
    this.taxonomy = taxonomy;
    this.now = now;
    this.newId = newId;
    this._chain = Promise.resolve();
  }

  _serial(fn) {
    const run = this._chain.then(fn);
    this._chain = run.catch(() => {});
    return run;
  }

  /** Whether anything may be recorded for this page at all. */
  async gate({ url, incognito = false }) {
    if (incognito) return { record: false, reason: 'incognito' };
    let u;
    try { u = new URL(url); } catch { return { record: false, reason: 'url' }; }
    if (!/^https?:$/.test(u.protocol)) return { record: false, reason: 'url' };
    const s = await loadSettings(this.storage);
    if (isPaused(s)) return { record: false, reason: 'paused' };
    if (isNeverRecord(s, url)) return { record: false, reason: 'never_record' };
    try { if (new URL(s.vault_url).origin === u.origin) return { record: false, reason: 'vault' }; } catch { /* no vault URL */ }
    return { record: true, reason: '' };
  }

  async _memory() {
    const got = await this.storage.get(MEMORY_KEY);
    return { visits: {}, products: {}, carts: {}, ...(got[MEMORY_KEY] || {}) };
  }

  async _saveMemory(mem) {
    const cutoff = this.now() - RETURN_MAX_MS;
    for (const k of Object.keys(mem.visits)) if (mem.visits[k] < cutoff) delete mem.visits[k];
    for (const k of Object.keys(mem.products)) if (mem.products[k].ts < cutoff) delete mem.products[k];
    const keys = Object.keys(mem.visits);
    if (keys.length > 1000) for (const k of keys.sort((a, b) => mem.visits[a] - mem.visits[b]).slice(0, keys.length - 1000)) delete mem.visits[k];
    await this.storage.set({ [MEMORY_KEY]: mem });
  }

  async _history(add = [], removeId = null) {
    const got = await this.storage.get(HISTORY_KEY);
    const cutoff = this.now() - HISTORY_MS;
    let h = (got[HISTORY_KEY] || []).filter((e) => Date.parse(e.ts) >= cutoff && e.id !== removeId);
    h = [...h, ...add].slice(-HISTORY_MAX);
    await this.storage.set({ [HISTORY_KEY]: h });
    return h;
  }

  /** Classify; returns {category} or {drop: reason} when the category is sensitive and not opted in. */
  _categorise(obs, settings) {
    const hit = this.taxonomy ? classify(this.taxonomy, {
      category_hint: obs.product?.category_hint, name: obs.product?.name || obs.label, brand: obs.product?.brand, query: obs.query, breadcrumbs: obs.breadcrumbs,
    }) : null;
    if (!hit) return { category: undefined };
    const root = sensitiveRootOf(this.taxonomy, hit.id);
    if (root) {
      const opted = optIns(settings);
      if (!opted.has(root) && !opted.has(hit.id)) return { drop: 'sensitive' };
    }
    return { category: hit.id };
  }

  async _enqueue(obs, url, category, extra = {}) {
    const ev = buildGesture(obs, url, { now: this.now(), id: this.newId ? this.newId() : undefined, category });
    if (!ev) return null;
    const hold = HOLD_TYPES.has(ev.type) && !extra.noHold ? this.now() + HOLD_MS : 0;
    await this.queue.add(ev, { holdUntil: hold, now: this.now() });
    // The popup's history (this device only): what the gesture was, and the tab it came from ("this page").
    const entry = { id: ev.id, type: ev.type, ts: ev.ts, origin: ev.origin, path: ev.path, category: ev.category || null,
      label: ev.query || ev.product?.name || '' };
    if (ev.product?.brand) entry.brand = ev.product.brand;
    if (Number.isFinite(ev.product?.price)) { entry.price = ev.product.price; entry.currency = ev.product.currency || null; }
    if (Number.isFinite(ev.value)) entry.value = ev.value;
    if (Number.isInteger(extra.tab)) entry.tab = extra.tab;
    await this._history([entry]);
    return ev;
  }

  /**
   * Record one observation from a page. Returns {recorded: [events], dropped?: reason}.
   * @param {{type: string, query?: string, product?: object, value?: number, breadcrumbs?: string[], dwell_ms?: number, scroll?: number}} obs
   */
  record(obs, { url, incognito = false, tab }) {
    return this._serial(async () => {
      const g = await this.gate({ url, incognito });
      if (!g.record) return { recorded: [], dropped: g.reason };
      const settings = await loadSettings(this.storage);
      const cat = this._categorise(obs, settings);
      if (cat.drop) return { recorded: [], dropped: cat.drop };
      // A listing page says something only through its category.
      // A web search (not a shop's own search) that fits no shopping category is not recorded either.
      const webSearch = obs.type === 'search' && obs.engine && obs.engine !== 'shop';
      if ((obs.type === 'page_view' && !obs.cart || obs.type === 'price_check' && !obs.product || webSearch) && !cat.category) {
        return { recorded: [], dropped: 'uncategorised' };
      }
      const recorded = [];
      const main = await this._enqueue(obs, url, cat.category, { tab });
      if (!main) return { recorded: [], dropped: 'invalid' };
      recorded.push(main);
      const derived = await this._derive(main, obs, url, cat.category, tab);
      recorded.push(...derived);
      return { recorded };
    });
  }

  /**
   * A declared intent typed by the consumer in the popup ("65-inch TV under 900 EUR"). Explicit, so
   * the page gate does not apply; the sensitive-category rule does. Recorded against the vault's origin.
   */
  declare(text, { value } = {}) {
    return this._serial(async () => {
      const query = String(text || '').replace(/\s+/g, ' ').trim().slice(0, 200);
      if (!query) return { recorded: [], dropped: 'empty' };
      const settings = await loadSettings(this.storage);
      const obs = { type: 'declared_intent', query };
      if (Number.isFinite(value) && value > 0) obs.value = value;
      const cat = this._categorise(obs, settings);
      if (cat.drop) return { recorded: [], dropped: cat.drop };
      const ev = await this._enqueue(obs, `${new URL(settings.vault_url).origin}/`, cat.category);
      return ev ? { recorded: [ev] } : { recorded: [], dropped: 'invalid' };
    });
  }

  async _derive(ev, obs, url, category, tab) {
    const out = [];
    const mem = await this._memory();
    const now = this.now();
    const key = productKey(obs.product);
    if (ev.type === 'product_view' && key) {
      const vk = `${ev.origin}|${key}`;
      const last = mem.visits[vk];
      if (last && now - last >= RETURN_MIN_MS && now - last <= RETURN_MAX_MS) {
        const rv = await this._enqueue({ type: 'return_visit', product: obs.product }, url, category, { noHold: true, tab });
        if (rv) out.push(rv);
      }
      mem.visits[vk] = now;
      const seen = mem.products[key];
      if (seen && seen.origin !== ev.origin && now - seen.ts <= PRICE_CHECK_MS) {
        const pc = await this._enqueue({ type: 'price_check', product: obs.product }, url, category, { noHold: true, tab });
        if (pc) out.push(pc);
      }
      mem.products[key] = { origin: ev.origin, ts: now };
    }
    if (['cart_add', 'checkout_start'].includes(ev.type) || (ev.type === 'page_view' && obs.cart)) {
      const c = mem.carts[ev.origin] || { since: now };
      mem.carts[ev.origin] = { ...c, last: now, category: category || c.category || null, value: obs.value ?? c.value ?? null };
    }
    if (ev.type === 'purchase') delete mem.carts[ev.origin];
    await this._saveMemory(mem);
    return out;
  }

  /** Emit cart_abandon for carts left alone for ABANDON_MS without a purchase. */
  checkAbandoned() {
    return this._serial(async () => {
      const mem = await this._memory();
      const out = [];
      const settings = await loadSettings(this.storage);
      for (const [origin, c] of Object.entries(mem.carts)) {
        if (this.now() - c.last < ABANDON_MS) continue;
        delete mem.carts[origin];
        if (isPaused(settings) || isNeverRecord(settings, origin)) continue;
        const obs = { type: 'cart_abandon' };
        if (typeof c.value === 'number') obs.value = c.value;
        const ev = await this._enqueue(obs, `${origin}/`, c.category || undefined);
        if (ev) out.push(ev);
      }
      await this._saveMemory(mem);
      return out;
    });
  }

  /** Engagement update for a held event (dwell/scroll); `final` releases it for sending. */
  update(id, patch, { final = false } = {}) {
    const clean = {};
    if (Number.isFinite(patch.dwell_ms) && patch.dwell_ms >= 0) clean.dwell_ms = Math.min(Math.round(patch.dwell_ms), 24 * 3600_000);
    if (Number.isFinite(patch.scroll)) clean.scroll = Math.round(Math.min(1, Math.max(0, patch.scroll)) * 100) / 100;
    return this.queue.update(id, clean, { final });
  }

  /** Events recorded since local midnight, newest first. */
  async today() {
    const got = await this.storage.get(HISTORY_KEY);
    const d = new Date(this.now());
    const midnight = new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();
    return (got[HISTORY_KEY] || []).filter((e) => Date.parse(e.ts) >= midnight).reverse();
  }

  /**
   * What was recorded today from this tab's current page (same tab, origin and path template), newest first.
   * @param {number} tab @param {string} url
   */
  async recordedHere(tab, url) {
    const m = minimiseUrl(url);
    if (!m || !Number.isInteger(tab)) return [];
    return (await this.today()).filter((e) => e.tab === tab && e.origin === m.origin && e.path === m.path);
  }

  /** A category's name in the taxonomy ("Televisions"), or null. */
  categoryName(id) {
    return (id && this.taxonomy?.byId?.get(id)?.name) || null;
  }

  /** Forget a gesture locally: out of the queue (if not sent yet) and out of the history. */
  async forget(id) {
    const removed = await this.queue.remove([id]);
    await this._history([], id);
    return { wasQueued: removed > 0 };
  }

  /** Drop everything queued or remembered for a host (when it joins the never-record list). */
  async forgetSite(site) {
    const all = await this.queue.all();
    const ids = all.filter((i) => hostOf(i.event.origin) === site || hostOf(i.event.origin).endsWith(`.${site}`)).map((i) => i.event.id);
    await this.queue.remove(ids);
    return ids.length;
  }
}
