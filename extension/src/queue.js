/**
 * The local gesture queue in chrome.storage.local (key "queue"). Every operation reads and writes
 * storage, so the queue survives a service-worker restart; operations within one worker are
 * serialised so two flushes never interleave. Items: {event, hold_until, attempts, queued_at}.
 * An item is "held" while its page is still open so dwell time and scroll depth can be added.
 */
export const QUEUE_KEY = 'queue';
export const MAX_BATCH = 100;
export const MAX_ITEMS = 5000;

export class Queue {
  constructor(storage, { key = QUEUE_KEY, maxItems = MAX_ITEMS } = {}) {
    this.storage = storage;
    this.key = key;
    this.maxItems = maxItems;
    this._chain = Promise.resolve();
  }

  /** Run fn(items) under the queue lock; persist `items` when fn returns them. */
  _mutate(fn) {
    const run = this._chain.then(async () => {
      const got = await this.storage.get(this.key);
      const items = Array.isArray(got[this.key]) ? got[this.key] : [];
      const res = await fn(items);
      // fn returns {items, value} to write, or {value} for a read.
      if (res.items !== undefined) await this.storage.set({ [this.key]: res.items });
      return res.value;
    });
    this._chain = run.catch(() => {});
    return run;
  }

  async all() {
    return this._mutate((items) => ({ value: items.map((i) => ({ ...i, event: { ...i.event } })) }));
  }

  /** Add an event unless one with the same id is queued already. */
  add(event, { holdUntil = 0, now = Date.now() } = {}) {
    return this._mutate((items) => {
      if (items.some((i) => i.event.id === event.id)) return { items, value: false };
      items.push({ event, hold_until: holdUntil, attempts: 0, queued_at: now });
      // Bounded: drop the oldest when the vault has been unreachable for a very long time.
      while (items.length > this.maxItems) items.shift();
      return { items, value: true };
    });
  }

  /** Merge engagement fields into a queued event; release it when `final`. */
  update(id, patch, { final = false } = {}) {
    return this._mutate((items) => {
      const it = items.find((i) => i.event.id === id);
      if (!it) return { items, value: false };
      for (const k of ['dwell_ms', 'scroll']) if (patch[k] !== undefined) it.event[k] = patch[k];
      if (final) it.hold_until = 0;
      return { items, value: true };
    });
  }

  /** Remove events by id; returns how many were removed. */
  remove(ids) {
    const drop = new Set(ids);
    return this._mutate((items) => {
      const kept = items.filter((i) => !drop.has(i.event.id));
      return { items: kept, value: items.length - kept.length };
    });
  }

  /** Up to `limit` events ready to send (not held), oldest first. */
  ready(now = Date.now(), limit = MAX_BATCH) {
    return this._mutate((items) => ({ value: items.filter((i) => !i.hold_until || i.hold_until <= now)
      .slice(0, Math.min(limit, MAX_BATCH)).map((i) => i.event) }));
  }

  /** Count a failed attempt for these ids. */
  markAttempt(ids) {
    const set = new Set(ids);
    return this._mutate((items) => { for (const i of items) if (set.has(i.event.id)) i.attempts += 1; return { items, value: null }; });
  }

  size() {
    return this._mutate((items) => ({ value: items.length }));
  }
}
