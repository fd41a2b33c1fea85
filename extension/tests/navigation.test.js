/** The background's half of the first look: shopping URLs matched on webNavigation events, SPA navigations handed to first.js. */
import { describe, it, expect, vi, beforeAll } from 'vitest';
import { onCommitted, onDomReady, onHistoryUpdated, tellFirst, installNavigation } from '../src/navigation.js';
import { Recorder } from '../src/recorder.js';
import { Queue } from '../src/queue.js';
import { compileTaxonomy } from '../src/classify.js';
import { defaults } from '../src/settings.js';
import { loadPolicy } from '../scripts/policy.mjs';
import { MemoryStorage } from './helpers/storage.js';
import { POLICIES } from './helpers/dom.js';

let tax;
beforeAll(() => { tax = compileTaxonomy(loadPolicy(POLICIES)); });

function setup(settings = {}, { incognito = false } = {}) {
  const storage = new MemoryStorage({ settings: { ...defaults(), vault_url: 'https://vault.example', ...settings } });
  const queue = new Queue(storage);
  const executeScript = vi.fn(async () => [{}]);
  const deps = {
    recorder: async () => new Recorder({ storage, queue, taxonomy: tax }),
    browser: { scripting: { executeScript }, tabs: { get: vi.fn(async (id) => ({ id, incognito })) } },
  };
  return { deps, executeScript };
}
const nav = (tabId, url, frameId = 0) => ({ tabId, frameId, url });

describe('background first look on navigation events', () => {
  it('a shopping URL gets the analyser at DOMContentLoaded, once per document', async () => {
    const t = setup();
    expect(await onDomReady(t.deps, nav(7, 'https://shop.example/checkout'))).toBe(true);
    expect(t.executeScript).toHaveBeenCalledWith({ target: { tabId: 7, frameIds: [0] }, files: ['analyser.js'] });
    expect(await onDomReady(t.deps, nav(7, 'https://shop.example/checkout'))).toBe(true);
    expect(t.executeScript).toHaveBeenCalledTimes(1);
    onCommitted(t.deps, nav(7, 'https://shop.example/checkout')); // a reload is a new document
    await onDomReady(t.deps, nav(7, 'https://shop.example/checkout'));
    expect(t.executeScript).toHaveBeenCalledTimes(2);
  });

  it('other URLs, frames, never-record sites, the vault and incognito tabs get nothing from the background', async () => {
    const t = setup({ never_record: ['private.example'] });
    expect(await onDomReady(t.deps, nav(8, 'https://news.example/2026/01/15/city-budget'))).toBe(false);
    expect(await onDomReady(t.deps, nav(8, 'https://shop.example/cart', 3))).toBe(false);
    expect(await onDomReady(t.deps, nav(8, 'https://private.example/cart'))).toBe(false);
    expect(await onDomReady(t.deps, nav(8, 'https://vault.example/search?q=tv'))).toBe(false);
    const p = setup({}, { incognito: true });
    expect(await onDomReady(p.deps, nav(9, 'https://shop.example/cart'))).toBe(false);
    expect(t.executeScript).not.toHaveBeenCalled();
    expect(p.executeScript).not.toHaveBeenCalled();
  });

  it('a tab the background cannot read is treated as private', async () => {
    const t = setup();
    t.deps.browser.tabs.get = async () => { throw new Error('No tab with id'); };
    expect(await onDomReady(t.deps, nav(10, 'https://shop.example/cart'))).toBe(false);
    expect(t.executeScript).not.toHaveBeenCalled();
  });

  it('an SPA navigation is handed to the first script with the URL verdict', async () => {
    const t = setup();
    await onHistoryUpdated(t.deps, nav(11, 'https://shop.example/search?q=oled+tv'));
    await onHistoryUpdated(t.deps, nav(11, 'https://news.example/2026/01/15/city-budget'));
    await onHistoryUpdated(t.deps, nav(11, 'https://shop.example/cart', 2));
    expect(t.executeScript.mock.calls.map(([a]) => [a.target, a.func, a.args])).toEqual([
      [{ tabId: 11, frameIds: [0] }, tellFirst, [true]],
      [{ tabId: 11, frameIds: [0] }, tellFirst, [false]],
    ]);
    const navigated = vi.fn();
    globalThis.__intentVaultFirst = { navigated };
    tellFirst(true);
    expect(navigated).toHaveBeenCalledWith(true);
    delete globalThis.__intentVaultFirst;
    expect(() => tellFirst(false)).not.toThrow(); // a tab without the first script
  });

  it('listens to http(s) navigations only', () => {
    const added = {};
    const ev = (name) => ({ addListener: (fn, filter) => { added[name] = filter; } });
    installNavigation({ browser: { webNavigation: { onCommitted: ev('c'), onDOMContentLoaded: ev('d'), onHistoryStateUpdated: ev('h') } } });
    expect(added).toEqual({ c: { url: [{ schemes: ['http', 'https'] }] }, d: { url: [{ schemes: ['http', 'https'] }] }, h: { url: [{ schemes: ['http', 'https'] }] } });
  });
});
