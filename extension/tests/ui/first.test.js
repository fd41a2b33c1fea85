// @vitest-environment jsdom
/** The first content script: loads the analyser only on pages that look like shopping; navigations by event. */
import { describe, it, expect, vi, beforeEach, afterEach } from 'vitest';
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const pages = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'pages');
const sent = [];
let listener = null;

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
    globalThis.chrome = { runtime: {
      sendMessage: async (msg) => { sent.push(msg); return { loaded: true }; },
      onMessage: { addListener: (fn) => { listener = fn; } },
    } };
  });
  afterEach(() => { vi.useRealTimers(); delete globalThis.chrome; });

  it('asks the background to load the analyser on a product page', async () => {
    loadFixture('shop-microdata-pl.html', '/ekspres-kafeo-2000.html');
    await import('../../src/capture/first.js');
    await vi.advanceTimersByTimeAsync(10);
    expect(sent).toEqual([{ type: 'capture:load', url: 'http://localhost:3000/ekspres-kafeo-2000.html' }]);
  });

  it('does nothing on an article, looks once more after load, and sets no interval', async () => {
    loadFixture('article-news.html', '/2026/01/15/city-budget');
    await import('../../src/capture/first.js');
    await vi.advanceTimersByTimeAsync(60_000);
    expect(sent).toEqual([]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('an SPA navigation to a product view (nav:changed from the background) loads the analyser', async () => {
    loadFixture('article-news.html', '/2026/01/15/city-budget');
    await import('../../src/capture/first.js');
    await vi.advanceTimersByTimeAsync(3000);
    loadFixture('shop-microdata-pl.html', '/ekspres-kafeo-2000.html');
    listener({ type: 'nav:changed' });
    await vi.advanceTimersByTimeAsync(1500 + 10);
    expect(sent.map((m) => m.type)).toEqual(['capture:load']);
  });

  it('hands navigations to the analyser once it is loaded', async () => {
    loadFixture('shop-microdata-pl.html', '/ekspres-kafeo-2000.html');
    const navigated = vi.fn();
    globalThis.__intentVaultAnalyser = { navigated };
    await import('../../src/capture/first.js');
    window.history.pushState({}, '', '/ekspres-kafeo-3000.html');
    listener({ type: 'nav:changed' });
    expect(navigated).toHaveBeenCalledTimes(2);
    expect(sent).toEqual([]);
  });
});
