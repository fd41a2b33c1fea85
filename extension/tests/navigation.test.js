/** The background's half of the first look: shopping URLs matched on webNavigation events, SPA navigations decided by the background. */
import { describe, it, expect, vi, beforeAll } from 'vitest';
import { onCommitted, onDomReady, onHistoryUpdated, tellAnalyser, installNavigation } from '../src/navigation.js';
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

  it('an SPA navigation goes to the analyser when it runs in the tab', async () => {
    const t = setup();
    t.executeScript.mockResolvedValue([{ frameId: 0, result: true }]);
    onCommitted(t.deps, nav(11, 'https://shop.example/'));
    await onHistoryUpdated(t.deps, nav(11, 'https://shop.example/p/1'), 0);
    await onHistoryUpdated(t.deps, nav(11, 'https://shop.example/p/1'), 0); // replaceState on the same URL
    await onHistoryUpdated(t.deps, nav(11, 'https://shop.example/p/2', 2), 0); // a frame
    await new Promise((r) => setTimeout(r, 20));
    expect(t.executeScript.mock.calls.map(([a]) => [a.target, a.func, a.files])).toEqual([[{ tabId: 11, frameIds: [0] }, tellAnalyser, undefined]]);
    const navigated = vi.fn();
    globalThis.__intentVaultAnalyser = { navigated };
    expect(tellAnalyser()).toBe(true);
    expect(navigated).toHaveBeenCalledTimes(1);
    delete globalThis.__intentVaultAnalyser;
    expect(tellAnalyser()).toBe(false); // a tab where nothing of ours stayed
  });

  it('elsewhere the settled SPA view is decided by URL (shopping: the analyser) or gets the first look again', async () => {
    const t = setup();
    t.executeScript.mockResolvedValue([{ frameId: 0, result: false }]);
    onCommitted(t.deps, nav(12, 'https://shop.example/'));
    await onHistoryUpdated(t.deps, nav(12, 'https://shop.example/search?q=oled+tv'), 0);
    await vi.waitFor(() => expect(t.executeScript).toHaveBeenCalledTimes(2));
    await onHistoryUpdated(t.deps, nav(12, 'https://shop.example/p/oled-tv-55'), 0);
    await vi.waitFor(() => expect(t.executeScript).toHaveBeenCalledTimes(4));
    expect(t.executeScript.mock.calls.map(([a]) => a.files || a.func)).toEqual([tellAnalyser, ['analyser.js'], tellAnalyser, ['first.js']]);
  });

  it('a newer navigation or a new document cancels the pending look', async () => {
    const t = setup();
    t.executeScript.mockResolvedValue([{ frameId: 0, result: false }]);
    onCommitted(t.deps, nav(13, 'https://news.example/'));
    await onHistoryUpdated(t.deps, nav(13, 'https://news.example/a'), 30);
    await onHistoryUpdated(t.deps, nav(13, 'https://news.example/b'), 30);
    await onHistoryUpdated(t.deps, nav(14, 'https://news.example/c'), 30);
    onCommitted(t.deps, nav(14, 'https://news.example/d'));
    await new Promise((r) => setTimeout(r, 80));
    expect(t.executeScript.mock.calls.filter(([a]) => a.files).map(([a]) => a.target.tabId)).toEqual([13]);
  });

  it('listens to http(s) navigations only', () => {
    const added = {};
    const ev = (name) => ({ addListener: (fn, filter) => { added[name] = filter; } });
    installNavigation({ browser: { webNavigation: { onCommitted: ev('c'), onDOMContentLoaded: ev('d'), onHistoryStateUpdated: ev('h') } } });
    expect(added).toEqual({ c: { url: [{ schemes: ['http', 'https'] }] }, d: { url: [{ schemes: ['http', 'https'] }] }, h: { url: [{ schemes: ['http', 'https'] }] } });
  });
});
