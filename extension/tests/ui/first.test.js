// @vitest-environment jsdom
/** The first content script: loads the analyser only on pages that look like shopping; leaves nothing behind elsewhere. */
import { describe, it, expect, vi, beforeEach, afterEach } from 'vitest';
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const pages = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'pages');
const sent = [];

function loadFixture(name, path) {
  const html = readFileSync(join(pages, name), 'utf8');
  window.history.replaceState({}, '', path);
  document.documentElement.innerHTML = html.replace(/^<!doctype html>\s*<html[^>]*>/i, '').replace(/<\/html>\s*$/i, '');
}

describe('first content script', () => {
  beforeEach(() => {
    vi.resetModules();
    vi.useFakeTimers();
    sent.length = 0;
    delete globalThis.__intentVaultAnalyser;
    delete globalThis.__intentVaultShop;
    globalThis.chrome = { runtime: {
      sendMessage: async (msg) => { sent.push(msg); return { loaded: true }; },
      onMessage: { addListener: () => { throw new Error('first.js registers no runtime listener'); } },
    } };
  });
  // The background runs first.js again (scripting.executeScript files) for a settled SPA view without an analyser.
  const runAgain = async () => { vi.resetModules(); await import('../../src/capture/first.js'); };
  afterEach(() => { vi.useRealTimers(); delete globalThis.chrome; });

  it('asks the background to load the analyser on a product page', async () => {
    loadFixture('shop-microdata-pl.html', '/ekspres-kafeo-2000.html');
    await import('../../src/capture/first.js');
    await vi.advanceTimersByTimeAsync(10);
    expect(sent).toEqual([{ type: 'capture:load', url: 'http://localhost:3000/ekspres-kafeo-2000.html' }]);
  });

  it('does nothing on an article, touches no extension API there, sets no timer and leaves nothing behind', async () => {
    loadFixture('article-news.html', '/2026/01/15/city-budget');
    let touched = 0;
    const api = globalThis.chrome;
    Object.defineProperty(globalThis, 'chrome', { configurable: true, get: () => { touched += 1; return api; } });
    const globals = new Set(Object.keys(globalThis));
    const listen = vi.spyOn(window, 'addEventListener');
    const listenDoc = vi.spyOn(document, 'addEventListener');
    await import('../../src/capture/first.js');
    expect(vi.getTimerCount()).toBe(0); // a declared article is a final "no": no second look
    expect(listen).not.toHaveBeenCalled();
    expect(listenDoc).not.toHaveBeenCalled();
    expect(Object.keys(globalThis).filter((k) => !globals.has(k))).toEqual([]);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(sent).toEqual([]);
    expect(touched).toBe(0);
    listen.mockRestore();
    listenDoc.mockRestore();
    delete globalThis.chrome;
    globalThis.chrome = api;
  });

  it('a page that is neither is looked at once more after load, then never again', async () => {
    document.documentElement.innerHTML = '<head><title>Club</title></head><body><h1>Opening hours</h1><p>Mon-Fri</p></body>';
    await import('../../src/capture/first.js');
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(2500);
    expect(vi.getTimerCount()).toBe(0);
    document.body.insertAdjacentHTML('beforeend', '<div itemscope itemtype="https://schema.org/Product"><span itemprop="price">9</span></div>');
    await vi.advanceTimersByTimeAsync(60_000);
    expect(sent).toEqual([]);
  });

  it('run again by the background on an SPA product view, it loads the analyser', async () => {
    loadFixture('article-news.html', '/2026/01/15/city-budget');
    await import('../../src/capture/first.js');
    await vi.advanceTimersByTimeAsync(3000);
    window.history.pushState({}, '', '/ekspres-kafeo-2000.html');
    loadFixture('shop-microdata-pl.html', '/ekspres-kafeo-2000.html');
    await runAgain();
    expect(sent).toEqual([{ type: 'capture:load', url: 'http://localhost:3000/ekspres-kafeo-2000.html' }]);
  });

  it('does nothing where the analyser runs already; on a shop, back/forward goes to the analyser', async () => {
    loadFixture('shop-microdata-pl.html', '/ekspres-kafeo-2000.html');
    const listen = vi.spyOn(window, 'addEventListener');
    await import('../../src/capture/first.js');
    await runAgain(); // a second run on the same shop registers no second listener
    expect(sent.map((m) => m.type)).toEqual(['capture:load', 'capture:load']);
    const navigated = vi.fn();
    globalThis.__intentVaultAnalyser = { navigated };
    await runAgain();
    expect(sent).toHaveLength(2);
    const popstate = listen.mock.calls.filter(([type]) => type === 'popstate');
    expect(popstate).toHaveLength(1);
    popstate[0][1](new PopStateEvent('popstate'));
    expect(navigated).toHaveBeenCalledTimes(1);
    listen.mockRestore();
  });
});
