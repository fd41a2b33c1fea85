import { describe, it, expect, beforeAll } from 'vitest';
import { Recorder, ABANDON_MS, HOLD_MS } from '../src/recorder.js';
import { Queue } from '../src/queue.js';
import { defaults } from '../src/settings.js';
import { compileTaxonomy } from '../src/classify.js';
import { validateGesture } from '../src/gesture.js';
import { loadPolicy } from '../scripts/policy.mjs';
import { MemoryStorage } from './helpers/storage.js';
import { POLICIES } from './helpers/dom.js';

let tax;
beforeAll(() => { tax = compileTaxonomy(loadPolicy(POLICIES)); });

function setup(settings = {}) {
  let now = Date.UTC(2026, 10, 25, 12, 0, 0);
  const storage = new MemoryStorage({ settings: { ...defaults(), ...settings } });
  const queue = new Queue(storage);
  const rec = new Recorder({ storage, queue, taxonomy: tax, now: () => now });
  return { storage, queue, rec, advance: (ms) => { now += ms; } };
}
const tv = { name: 'LG OLED TV 65', brand: 'LG', price: 1299, currency: 'EUR', sku: 'OLED65C4' };

describe('recording', () => {
  it('builds the exact wire shape: minimised URL, category, product, no extras', async () => {
    const t = setup();
    const { recorded } = await t.rec.record({ type: 'product_view', product: tv, breadcrumbs: ['TV'] },
      { url: 'https://shop.example/p/lg-oled-tv-65-c4-123456?utm_source=mail&sid=secret#reviews' });
    expect(recorded).toHaveLength(1);
    const ev = recorded[0];
    expect(validateGesture(ev)).toEqual([]);
    expect(ev).toMatchObject({ type: 'product_view', category: 'electronics.tv', origin: 'https://shop.example', path: '/p/{id}',
      product: { name: 'LG OLED TV 65', brand: 'LG', price: 1299, currency: 'EUR', sku: 'OLED65C4' } });
    expect(JSON.stringify(ev)).not.toMatch(/utm|secret|reviews|breadcrumbs/);
    const [item] = await t.queue.all();
    expect(item.hold_until).toBeGreaterThan(Date.UTC(2026, 10, 25, 12, 0, 0));
  });
  it('search keeps only the recognised term', async () => {
    const t = setup();
    const { recorded } = await t.rec.record({ type: 'search', query: 'fernseher 55' }, { url: 'https://www.google.de/search?q=fernseher+55&client=firefox' });
    expect(recorded[0]).toMatchObject({ type: 'search', query: 'fernseher 55', category: 'electronics.tv', path: '/search' });
    expect((await t.queue.ready(Date.now() * 2))).toHaveLength(1); // not held
  });
  it('web searches that fit no shopping category are not recorded; shop searches are', async () => {
    const t = setup();
    expect(await t.rec.record({ type: 'search', query: 'divorce lawyer near me', engine: 'google' }, { url: 'https://www.google.com/search?q=divorce+lawyer+near+me' }))
      .toEqual({ recorded: [], dropped: 'uncategorised' });
    expect((await t.rec.record({ type: 'search', query: 'oled tv', engine: 'google' }, { url: 'https://www.google.com/search?q=oled+tv' })).recorded).toHaveLength(1);
    expect((await t.rec.record({ type: 'search', query: 'gift ideas', engine: 'shop' }, { url: 'https://shop.example/search?q=gift+ideas' })).recorded).toHaveLength(1);
  });
  it.each([
    [{ paused: true }, {}, 'paused'],
    [{ vault_settings: { paused: true, opt_in_categories: [] } }, {}, 'paused'],
    [{ never_record: ['shop.example'] }, {}, 'never_record'],
    [{}, { incognito: true }, 'incognito'],
    [{}, { url: 'file:///home/me/page.html' }, 'url'],
    [{ vault_url: 'https://www.shop.example' }, {}, 'vault'],
  ])('records nothing when %j %j', async (settings, ctx, reason) => {
    const t = setup(settings);
    const res = await t.rec.record({ type: 'product_view', product: tv }, { url: 'https://www.shop.example/p/1', ...ctx });
    expect(res).toEqual({ recorded: [], dropped: reason });
    expect(await t.queue.size()).toBe(0);
    expect(await t.rec.today()).toEqual([]);
  });
  it('drops sensitive categories unless opted in for that category', async () => {
    const obs = { type: 'search', query: 'schwangerschaftstest' };
    const url = 'https://apotheke.example/suche?q=schwangerschaftstest';
    const t1 = setup();
    expect(await t1.rec.record(obs, { url })).toEqual({ recorded: [], dropped: 'sensitive' });
    expect(await t1.queue.size()).toBe(0);
    const t2 = setup({ opt_in_categories: ['health'] });
    expect((await t2.rec.record(obs, { url })).recorded[0].category).toBe('health.pharmacy');
    const t3 = setup({ vault_settings: { paused: false, opt_in_categories: ['health'] } });
    expect((await t3.rec.record(obs, { url })).recorded).toHaveLength(1);
    const t4 = setup({ opt_in_categories: ['religion'] });
    expect((await t4.rec.record(obs, { url })).dropped).toBe('sensitive');
  });
  it('engagement updates are merged and release the held event', async () => {
    const t = setup();
    const { recorded: [ev] } = await t.rec.record({ type: 'product_view', product: tv }, { url: 'https://shop.example/p/1' });
    expect(await t.queue.ready(Date.UTC(2026, 10, 25, 12, 0, 1))).toEqual([]);
    await t.rec.update(ev.id, { dwell_ms: 65432.4, scroll: 1.7 }, { final: true });
    const [sent] = await t.queue.ready(Date.UTC(2026, 10, 25, 12, 0, 1));
    expect(sent).toMatchObject({ id: ev.id, dwell_ms: 65432, scroll: 1 });
    expect(HOLD_MS).toBeGreaterThan(0);
  });
});

describe('listing page views', () => {
  it('are recorded only when they classify, and the heading is not sent', async () => {
    const t = setup();
    const tvs = await t.rec.record({ type: 'page_view', label: 'OLED TVs', breadcrumbs: ['Home', 'TV'] }, { url: 'https://shop.example/c/oled-tv' });
    expect(tvs.recorded[0]).toMatchObject({ type: 'page_view', category: 'electronics.tv', path: '/c/oled-tv' });
    expect(JSON.stringify(tvs.recorded[0])).not.toMatch(/OLED TVs|label|Home/);
    expect(await t.rec.record({ type: 'page_view', label: 'Gift cards' }, { url: 'https://shop.example/c/gifts' })).toEqual({ recorded: [], dropped: 'uncategorised' });
    const cart = await t.rec.record({ type: 'page_view', cart: true, value: 20 }, { url: 'https://shop.example/cart' });
    expect(cart.recorded[0]).toMatchObject({ type: 'page_view', value: 20 });
  });
});

describe('derived gestures', () => {
  it('return_visit after 30 minutes on the same product, not on a reload', async () => {
    const t = setup();
    const url = 'https://shop.example/p/1';
    await t.rec.record({ type: 'product_view', product: tv }, { url });
    t.advance(60_000);
    expect((await t.rec.record({ type: 'product_view', product: tv }, { url })).recorded.map((e) => e.type)).toEqual(['product_view']);
    t.advance(2 * 3600_000);
    expect((await t.rec.record({ type: 'product_view', product: tv }, { url })).recorded.map((e) => e.type)).toEqual(['product_view', 'return_visit']);
  });
  it('price_check when the same product is viewed in another shop', async () => {
    const t = setup();
    await t.rec.record({ type: 'product_view', product: tv }, { url: 'https://shop-a.example/p/1' });
    t.advance(3600_000);
    const res = await t.rec.record({ type: 'product_view', product: { ...tv, price: 1249 } }, { url: 'https://shop-b.example/item/9' });
    expect(res.recorded.map((e) => e.type)).toEqual(['product_view', 'price_check']);
    expect(res.recorded[1]).toMatchObject({ origin: 'https://shop-b.example', category: 'electronics.tv', product: { price: 1249 } });
  });
  it('cart_abandon after a day without purchase; a purchase clears the cart', async () => {
    const t = setup();
    await t.rec.record({ type: 'cart_add', product: tv }, { url: 'https://shop-a.example/p/1' });
    await t.rec.record({ type: 'cart_add', product: tv }, { url: 'https://shop-b.example/p/1' });
    await t.rec.record({ type: 'purchase', value: 1299 }, { url: 'https://shop-b.example/checkout/success' });
    t.advance(ABANDON_MS - 1000);
    expect(await t.rec.checkAbandoned()).toEqual([]);
    t.advance(2000);
    const out = await t.rec.checkAbandoned();
    expect(out).toHaveLength(1);
    expect(out[0]).toMatchObject({ type: 'cart_abandon', origin: 'https://shop-a.example', path: '/', category: 'electronics.tv' });
    expect(await t.rec.checkAbandoned()).toEqual([]);
  });
});

describe('today and deletion', () => {
  it('lists today only and forgets a queued gesture', async () => {
    const t = setup();
    const { recorded: [a] } = await t.rec.record({ type: 'search', query: 'tv' }, { url: 'https://www.google.com/search?q=tv' });
    const { recorded: [b] } = await t.rec.record({ type: 'search', query: 'oled tv' }, { url: 'https://www.google.com/search?q=oled+tv' });
    expect((await t.rec.today()).map((e) => e.id)).toEqual([b.id, a.id]);
    expect(await t.rec.forget(a.id)).toEqual({ wasQueued: true });
    expect((await t.rec.today()).map((e) => e.id)).toEqual([b.id]);
    expect((await t.queue.all()).map((i) => i.event.id)).toEqual([b.id]);
    expect(await t.rec.forget(a.id)).toEqual({ wasQueued: false });
    t.advance(24 * 3600_000);
    expect(await t.rec.today()).toEqual([]);
  });
  it("this page: what was recorded from a tab's current page, with what the popup says about it", async () => {
    const t = setup();
    const url = 'https://shop.example/p/lg-oled-tv-65-c4-123456?ref=x';
    const { recorded: [pv] } = await t.rec.record({ type: 'product_view', product: tv }, { url, tab: 4 });
    await t.rec.record({ type: 'product_view', product: { ...tv, name: 'Other TV' } }, { url: 'https://shop.example/p/other-tv-99999', tab: 5 });
    await t.rec.record({ type: 'cart_add', product: tv, value: 1299 }, { url: 'https://shop.example/cart', tab: 4 });
    const here = await t.rec.recordedHere(4, 'https://shop.example/p/lg-oled-tv-65-c4-123456#reviews');
    expect(here).toEqual([expect.objectContaining({ id: pv.id, type: 'product_view', label: 'LG OLED TV 65', brand: 'LG', price: 1299, currency: 'EUR', tab: 4 })]);
    expect(await t.rec.recordedHere(6, url)).toEqual([]); // another tab
    expect(await t.rec.recordedHere(4, 'chrome://newtab')).toEqual([]);
    expect(t.rec.categoryName('electronics.tv')).toBe(tax.byId.get('electronics.tv').name);
    expect(t.rec.categoryName(null)).toBeNull();
  });
  it('adding a site to never-record drops its queued gestures', async () => {
    const t = setup();
    await t.rec.record({ type: 'search', query: 'tv' }, { url: 'https://shop.example/search?q=tv' });
    await t.rec.record({ type: 'search', query: 'tv' }, { url: 'https://other.example/search?q=tv' });
    expect(await t.rec.forgetSite('shop.example')).toBe(1);
    expect(await t.queue.size()).toBe(1);
  });
});

describe('declared intents', () => {
  it('records the consumer\'s own words against the vault origin, classified, with a budget', async () => {
    const t = setup({ vault_url: 'https://vault.example:8443/base' });
    const { recorded: [ev] } = await t.rec.declare('  65 inch OLED TV  within 2 weeks ', { value: 900 });
    expect(ev).toMatchObject({ type: 'declared_intent', query: '65 inch OLED TV within 2 weeks', value: 900, category: 'electronics.tv',
      origin: 'https://vault.example:8443', path: '/' });
    expect(validateGesture(ev)).toEqual([]);
  });
  it('sensitive declarations need the opt-in; empty ones are ignored', async () => {
    const t = setup();
    expect(await t.rec.declare('schwangerschaftstest')).toEqual({ recorded: [], dropped: 'sensitive' });
    expect(await t.rec.declare('   ')).toEqual({ recorded: [], dropped: 'empty' });
    expect(await t.queue.size()).toBe(0);
  });
});
