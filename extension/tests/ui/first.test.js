// @vitest-environment jsdom
/** The first content script: loads the analyser only on pages that look like shopping; navigations by event. */
import { describe, it, expect, vi, beforeEach, afterEach } from 'vitest';
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tellFirst } from '../../src/navigation.js';

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
    delete globalThis.__intentVaultFirst;
    globalThis.chrome = { runtime: {
      sendMessage: async (msg) => { sent.push(msg); return { loaded: true }; },
      onMessage: { addListener: () => { throw new Error('first.js registers no runtime listener'); } },
    } };
  });
  // What the background runs in the tab's content-script world on webNavigation.onHistoryStateUpdated.
  const listener = ({ shopUrl = false } = {}) => tellFirst(shopUrl);
  afterEach(() => { vi.useRealTimers(); delete globalThis.chrome; });

  it('asks the background to load the analyser on a product page', async () => {
    loadFixture('shop-microdata-pl.html', '/ekspres-kafeo-2000.html');
    await import('../../src/capture/first.js');
    await vi.advanceTimersByTimeAsync(10);
    expect(sent).toEqual([{ type: 'capture:load', url: 'http://localhost:3000/ekspres-kafeo-2000.html' }]);
  });

  it('does nothing on an article, touches no extension API there, and sets no timer', async () => {
    loadFixture('article-news.html', '/2026/01/15/city-budget');
    let touched = 0;
    const api = globalThis.chrome;
    Object.defineProperty(globalThis, 'chrome', { configurable: true, get: () => { touched += 1; return api; } });
    await import('../../src/capture/first.js');
    expect(vi.getTimerCount()).toBe(0); // a declared article is a final "no": no second look
    await vi.advanceTimersByTimeAsync(60_000);
    expect(sent).toEqual([]);
    expect(touched).toBe(0);
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

  it('an SPA navigation to a shopping URL (the background matched it) loads the analyser without markup', async () => {
    loadFixture('article-news.html', '/2026/01/15/city-budget');
    await import('../../src/capture/first.js');
    window.history.pushState({}, '', '/search?q=oled+tv');
    listener({ shopUrl: true });
    await vi.advanceTimersByTimeAsync(1500 + 10);
    expect(sent).toEqual([{ type: 'capture:load', url: 'http://localhost:3000/search?q=oled+tv' }]);
  });

  it('an SPA navigation to a product view (handed over by the background) loads the analyser', async () => {
    loadFixture('article-news.html', '/2026/01/15/city-budget');
    await import('../../src/capture/first.js');
    await vi.advanceTimersByTimeAsync(3000);
    loadFixture('shop-microdata-pl.html', '/ekspres-kafeo-2000.html');
    listener();
    await vi.advanceTimersByTimeAsync(1500 + 10);
    expect(sent.map((m) => m.type)).toEqual(['capture:load']);
  });

  it('hands navigations to the analyser once it is loaded', async () => {
    loadFixture('shop-microdata-pl.html', '/ekspres-kafeo-2000.html');
    const navigated = vi.fn();
    globalThis.__intentVaultAnalyser = { navigated };
    await import('../../src/capture/first.js');
    window.history.pushState({}, '', '/ekspres-kafeo-3000.html');
    listener();
    expect(navigated).toHaveBeenCalledTimes(2);
    expect(sent).toEqual([]);
  });
});
