import { describe, it, expect, vi, beforeAll } from 'vitest';
import { handleMessage } from '../src/messages.js';
import { Recorder } from '../src/recorder.js';
import { Queue } from '../src/queue.js';
import { VaultClient } from '../src/sync.js';
import { compileTaxonomy } from '../src/classify.js';
import { defaults, loadSettings, updateSettings, normalizeSite } from '../src/settings.js';
import { loadPolicy } from '../scripts/policy.mjs';
import { MemoryStorage } from './helpers/storage.js';
import { fakeVault } from './helpers/vault.js';
import { POLICIES } from './helpers/dom.js';

let tax;
beforeAll(() => { tax = compileTaxonomy(loadPolicy(POLICIES)); });

const EXT = 'chrome-extension://abcdef/';
function setup(settings = {}) {
  const storage = new MemoryStorage({ settings: { ...defaults(), vault_url: 'https://vault.example',
    auth: { access_token: 'at-1', refresh_token: 'rt-1', expires_at: Date.now() + 3600_000 }, ...settings } });
  const queue = new Queue(storage);
  const vault = fakeVault();
  const client = new VaultClient({ storage, queue, fetch: vault.fetch });
  const alarms = { create: vi.fn(), clear: vi.fn(async () => true) };
  const deps = {
    storage, queue, client, recorder: async () => new Recorder({ storage, queue, taxonomy: tax }),
    browser: { runtime: { getURL: (p) => `${EXT}${p}` }, alarms },
    ALARMS: { pair: 'iv-pair' }, refreshBadge: async () => {},
    loadSettings: () => loadSettings(storage), updateSettings: (p) => updateSettings(storage, p), normalizeSite,
  };
  return { deps, storage, queue, vault, alarms };
}
const tab = (url, incognito = false) => ({ tab: { id: 1, incognito, url }, url });
const page = { url: `${EXT}popup/popup.html` };

describe('the popup: this page', () => {
  it("ui:state says what the active tab's page was recorded as; ui:never-record leaves its site out in one step", async () => {
    const t = setup();
    const url = 'https://www.shop.example/p/tv-55-123';
    const sender = { tab: { id: 3, incognito: false, url }, url };
    await handleMessage(t.deps, { type: 'capture:observe', obs: { type: 'product_view', product: { name: 'OLED TV', brand: 'LG', price: 999, currency: 'EUR' } } }, sender);
    const tabRef = { id: 3, url };
    let res = await handleMessage(t.deps, { type: 'ui:state', tab: tabRef }, page);
    expect(res.state.here).toMatchObject({ site: 'shop.example', recordable: true, recorded: [{ type: 'product_view', label: 'OLED TV', brand: 'LG', price: 999, currency: 'EUR' }] });
    expect(res.state.here.recorded[0].category_name).toBeTruthy();
    expect(res.state.today[0].category_name).toBe(res.state.here.recorded[0].category_name);
    expect((await handleMessage(t.deps, { type: 'ui:state' }, page)).state.here).toBeNull();
    res = await handleMessage(t.deps, { type: 'ui:never-record', url, tab: tabRef }, page);
    expect(res).toMatchObject({ ok: true, site: 'shop.example', dropped: 1 });
    expect((await t.deps.loadSettings()).never_record).toEqual(['shop.example']);
    expect(res.state.here).toMatchObject({ recordable: false, reason: 'never_record' });
    expect(await t.queue.size()).toBe(0);
    expect((await handleMessage(t.deps, { type: 'ui:never-record', url, tab: tabRef }, page)).state.never_record).toEqual(['shop.example']);
    expect(await handleMessage(t.deps, { type: 'ui:never-record', url: 'about:blank' }, page)).toMatchObject({ ok: false });
    expect(await handleMessage(t.deps, { type: 'ui:never-record', url }, { tab: { id: 3, url }, url })).toBeUndefined(); // not from a web page
  });
  it('the vault\'s own pages and browser pages: nothing to leave out', async () => {
    const t = setup();
    expect((await handleMessage(t.deps, { type: 'ui:state', tab: { id: 1, url: 'https://vault.example/signals' } }, page)).state.here).toMatchObject({ recordable: false, reason: 'vault' });
    expect((await handleMessage(t.deps, { type: 'ui:state', tab: { id: 1, url: 'chrome://extensions/' } }, page)).state.here).toEqual({ site: null, recordable: false, reason: 'url', recorded: [] });
  });
});

describe('content script messages', () => {
  it('hello answers whether the page may be recorded (incognito never)', async () => {
    const t = setup();
    expect(await handleMessage(t.deps, { type: 'capture:hello' }, tab('https://shop.example/p/1'))).toEqual({ record: true, reason: '' });
    expect(await handleMessage(t.deps, { type: 'capture:hello' }, tab('https://shop.example/p/1', true))).toEqual({ record: false, reason: 'incognito' });
  });
  it('load injects the analyser into the asking tab only when the page may be recorded', async () => {
    const t = setup({ never_record: ['private.example'] });
    const executeScript = vi.fn(async () => [{}]);
    t.deps.browser.scripting = { executeScript };
    const sender = { ...tab('https://shop.example/p/1'), frameId: 0 };
    expect(await handleMessage(t.deps, { type: 'capture:load' }, sender)).toEqual({ loaded: true });
    expect(executeScript).toHaveBeenCalledWith({ target: { tabId: 1, frameIds: [0] }, files: ['analyser.js'] });
    expect(await handleMessage(t.deps, { type: 'capture:load' }, tab('https://private.example/p/1'))).toEqual({ loaded: false });
    expect(await handleMessage(t.deps, { type: 'capture:load' }, tab('https://shop.example/p/1', true))).toEqual({ loaded: false });
    await t.deps.updateSettings({ paused: true });
    expect(await handleMessage(t.deps, { type: 'capture:load' }, sender)).toEqual({ loaded: false });
    expect(executeScript).toHaveBeenCalledTimes(1);
  });
  it('observe records with the sender URL (not a URL the page claims) and update releases the event', async () => {
    const t = setup();
    const res = await handleMessage(t.deps, { type: 'capture:observe', url: 'https://spoof.example/x',
      obs: { type: 'product_view', product: { name: 'OLED TV', price: 999, currency: 'EUR' } } }, tab('https://shop.example/p/tv-55-123'));
    expect(res.recorded).toEqual([{ id: expect.any(String), type: 'product_view' }]);
    const [item] = await t.queue.all();
    expect(item.event.origin).toBe('https://shop.example');
    expect(await handleMessage(t.deps, { type: 'capture:update', id: res.recorded[0].id, dwell_ms: 1000, scroll: 0.5, final: true }, tab('https://shop.example/p/tv-55-123'))).toEqual({ ok: true });
    expect((await t.queue.all())[0]).toMatchObject({ hold_until: 0, event: { dwell_ms: 1000, scroll: 0.5 } });
    expect(t.alarms.create).toHaveBeenCalled();
  });
  it('a single-page view on the same origin is recorded with its own path (the sender URL stays the document\'s)', async () => {
    const t = setup();
    await handleMessage(t.deps, { type: 'capture:observe', url: 'https://shop.example/p/tv-55-123',
      obs: { type: 'product_view', product: { name: 'OLED TV', price: 999, currency: 'EUR' } } }, tab('https://shop.example/app'));
    const [item] = await t.queue.all();
    expect(item.event).toMatchObject({ origin: 'https://shop.example', path: '/p/{id}' });
  });
  it('observations from incognito tabs are dropped', async () => {
    const t = setup();
    const res = await handleMessage(t.deps, { type: 'capture:observe', obs: { type: 'search', query: 'tv' } }, tab('https://www.google.com/search?q=tv', true));
    expect(res).toEqual({ recorded: [], dropped: 'incognito' });
    expect(await t.queue.size()).toBe(0);
  });
  it('capture messages without a tab are ignored', async () => {
    const t = setup();
    expect(await handleMessage(t.deps, { type: 'capture:observe', obs: { type: 'search', query: 'x' } }, {})).toBeUndefined();
  });
});

describe('extension page messages', () => {
  it('web pages cannot call ui:* handlers', async () => {
    const t = setup();
    expect(await handleMessage(t.deps, { type: 'ui:queue' }, tab('https://evil.example/'))).toBeUndefined();
    expect(await handleMessage(t.deps, { type: 'ui:pause', paused: true }, tab('https://evil.example/'))).toBeUndefined();
    expect(t.storage.data.settings.paused).toBe(false);
  });
  it('pause, state and the queue preview', async () => {
    const t = setup();
    await handleMessage(t.deps, { type: 'capture:observe', obs: { type: 'search', query: 'tv' } }, tab('https://www.google.com/search?q=tv'));
    const st = await handleMessage(t.deps, { type: 'ui:pause', paused: true }, page);
    expect(st.state).toMatchObject({ paired: true, paused: true, queued: 1 });
    expect(st.state.today).toHaveLength(1);
    const q = await handleMessage(t.deps, { type: 'ui:queue' }, page);
    expect(q.events[0]).toMatchObject({ type: 'search', query: 'tv', origin: 'https://www.google.com', path: '/search' });
    const blocked = await handleMessage(t.deps, { type: 'capture:observe', obs: { type: 'search', query: 'x' } }, tab('https://www.google.com/search?q=x'));
    expect(blocked.dropped).toBe('paused');
  });
  it('deleting a gesture already sent asks the vault to delete it', async () => {
    const t = setup();
    const res = await handleMessage(t.deps, { type: 'capture:observe', obs: { type: 'search', query: 'tv' } }, tab('https://www.google.com/search?q=tv'));
    const id = res.recorded[0].id;
    await handleMessage(t.deps, { type: 'ui:sync' }, page);
    expect(t.vault.state.stored.has(id)).toBe(true);
    const del = await handleMessage(t.deps, { type: 'ui:delete', id }, page);
    expect(del).toMatchObject({ ok: true, remote: 'deleted' });
    expect(t.vault.state.stored.has(id)).toBe(false);
    expect(del.state.today).toEqual([]);
  });
  it('deleting a queued gesture never reaches the vault', async () => {
    const t = setup();
    const res = await handleMessage(t.deps, { type: 'capture:observe', obs: { type: 'search', query: 'tv' } }, tab('https://www.google.com/search?q=tv'));
    const del = await handleMessage(t.deps, { type: 'ui:delete', id: res.recorded[0].id }, page);
    expect(del.remote).toBe('not-needed');
    expect(t.vault.state.requests).toHaveLength(0);
    expect(await t.queue.size()).toBe(0);
  });
  it('saving never-record sites normalises them and purges queued events of that site', async () => {
    const t = setup();
    await handleMessage(t.deps, { type: 'capture:observe', obs: { type: 'search', query: 'tv' } }, tab('https://shop.example/search?q=tv'));
    const res = await handleMessage(t.deps, { type: 'ui:settings:save', never_record: ['https://www.shop.example/'] }, page);
    expect(res.state.never_record).toEqual(['shop.example']);
    expect(await t.queue.size()).toBe(0);
  });
  it('changing the vault address forgets the old vault\'s tokens; a bad address is refused', async () => {
    const t = setup();
    expect(await handleMessage(t.deps, { type: 'ui:settings:save', vault_url: 'not a url' }, page)).toMatchObject({ ok: false });
    expect((await handleMessage(t.deps, { type: 'ui:settings:save', vault_url: 'https://vault.example/' }, page)).state.paired).toBe(true);
    const res = await handleMessage(t.deps, { type: 'ui:settings:save', vault_url: 'https://other-vault.example' }, page);
    expect(res.state).toMatchObject({ paired: false, vault_url: 'https://other-vault.example' });
  });
  it('pairing start returns the user code and schedules polling', async () => {
    const t = setup({ auth: null });
    const res = await handleMessage(t.deps, { type: 'ui:pair:start', vault_url: 'https://vault.example/' }, page);
    expect(res).toMatchObject({ ok: true, pairing: { user_code: 'WDJB-MJHT', verification_uri: 'https://vault.example/device' } });
    expect(t.alarms.create).toHaveBeenCalledWith('iv-pair', expect.any(Object));
    t.vault.state.pending = 0;
    await t.deps.client.storage.set({ settings: { ...t.storage.data.settings, pairing: { ...t.storage.data.settings.pairing, next_poll_at: 0 } } });
    expect(await handleMessage(t.deps, { type: 'ui:pair:poll' }, page)).toEqual({ ok: true, status: 'paired' });
    expect(t.alarms.clear).toHaveBeenCalledWith('iv-pair');
  });
  it('errors come back as {ok: false}', async () => {
    const t = setup();
    t.vault.state.mode = 'offline';
    const res = await handleMessage(t.deps, { type: 'ui:pair:start', vault_url: 'https://vault.example' }, page);
    expect(res.ok).toBe(false);
    expect(res.error).toMatch(/unreachable/);
  });
});

describe('the options page: the consumer\'s terms', () => {
  const options = { url: `${EXT}options/options.html` };
  it('ui:terms reads the roster and the choices; ui:terms:save puts a default or a per-vendor choice in the vault', async () => {
    const t = setup();
    let res = await handleMessage(t.deps, { type: 'ui:terms' }, options);
    expect(res).toMatchObject({ ok: true, choices: { default: 'cc-sd-offers', vendors: {} } });
    expect(res.roster.agreements.map((a) => a.id)).toEqual(['cc-sd-base', 'cc-sd-offers']);
    res = await handleMessage(t.deps, { type: 'ui:terms:save', agreement_id: 'cc-sd-base' }, options);
    expect(res).toMatchObject({ ok: true, choices: { default: 'cc-sd-base' } });
    const put = t.vault.state.requests.find((r) => r.method === 'PUT');
    expect(put.path).toBe('/v1/me/terms');
    expect(JSON.parse(put.body)).toEqual({ agreement_id: 'cc-sd-base' });
    expect(put.headers.Authorization).toBe('Bearer at-1');
    res = await handleMessage(t.deps, { type: 'ui:terms:save', agreement_id: 'cc-sd-offers', vendor_id: 'ivc_shop' }, options);
    expect(res.choices.vendors).toEqual({ ivc_shop: 'cc-sd-offers' });
    res = await handleMessage(t.deps, { type: 'ui:terms:save', agreement_id: null, vendor_id: 'ivc_shop' }, options);
    expect(res.choices.vendors).toEqual({});
  });
  it('says what to do when unpaired, paired before the scope existed, or the vault refuses the choice', async () => {
    expect(await handleMessage(setup({ auth: null }).deps, { type: 'ui:terms' }, options)).toMatchObject({ ok: false, code: 'unpaired' });
    const old = setup();
    old.vault.state.termsScope = false;
    const res = await handleMessage(old.deps, { type: 'ui:terms' }, options);
    expect(res).toMatchObject({ ok: false, code: 'scope' });
    expect(res.error).toMatch(/pair again/);
    const t = setup();
    const bad = await handleMessage(t.deps, { type: 'ui:terms:save', agreement_id: 'nope' }, options);
    expect(bad).toMatchObject({ ok: false, code: 'error' });
    expect(bad.error).toMatch(/not in the roster/);
    t.vault.state.roster = null;
    expect(await handleMessage(t.deps, { type: 'ui:terms' }, options)).toMatchObject({ ok: false, code: 'none' });
    expect(await handleMessage(t.deps, { type: 'ui:terms' }, { tab: { id: 1, url: 'https://shop.example/' }, url: 'https://shop.example/' })).toBeUndefined();
  });
});
