// @vitest-environment jsdom
/** The content script's glue: hello gate, observations, engagement updates, clicks, SPA navigation. */
import { describe, it, expect, vi, beforeEach, afterEach } from 'vitest';
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const pages = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'pages');
const sent = [];
let record = true;
let nextId = 0;
vi.mock('webextension-polyfill', () => ({
  default: {
    runtime: {
      sendMessage: async (msg) => {
        sent.push(msg);
        if (msg.type === 'capture:hello') return { record, reason: record ? '' : 'paused' };
        if (msg.type === 'capture:observe') return { recorded: [{ id: `id-${++nextId}`, type: msg.obs.type }] };
        return { ok: true };
      },
    },
  },
}));

function loadFixture(name, path) {
  const html = readFileSync(join(pages, name), 'utf8');
  window.history.replaceState({}, '', path);
  document.documentElement.innerHTML = html.replace(/^<!doctype html>\s*<html[^>]*>/i, '').replace(/<\/html>\s*$/i, '');
}

describe('content script', () => {
  beforeEach(() => { vi.resetModules(); vi.useFakeTimers(); sent.length = 0; record = true; nextId = 0; delete globalThis.__intentVaultAnalyser; });
  afterEach(() => { vi.useRealTimers(); });

  it('asks first, then reports the product view, clicks, and engagement on leaving', async () => {
    loadFixture('shop-jsonld-graph-de.html', '/p/bosch-gsr-12v-35-06019h8000');
    await import('../../src/capture/index.js');
    await vi.advanceTimersByTimeAsync(10);
    expect(sent[0]).toMatchObject({ type: 'capture:hello' });
    const view = sent.find((m) => m.type === 'capture:observe');
    expect(view.obs).toMatchObject({ type: 'product_view', product: { price: 1234.56, currency: 'EUR' } });
    document.querySelector('.wishlist-toggle').click();
    await vi.advanceTimersByTimeAsync(10);
    expect(sent.filter((m) => m.type === 'capture:observe').map((m) => m.obs.type)).toEqual(['product_view', 'wishlist_add']);
    window.dispatchEvent(new Event('pagehide'));
    await vi.advanceTimersByTimeAsync(10);
    expect(sent.at(-1)).toMatchObject({ type: 'capture:update', id: 'id-1', final: true });
  });

  it('records nothing when the background says no', async () => {
    record = false;
    loadFixture('shop-jsonld-graph-de.html', '/p/x-12345');
    await import('../../src/capture/index.js');
    await vi.advanceTimersByTimeAsync(3000);
    expect(sent.map((m) => m.type)).toEqual(['capture:hello']);
  });

  it('re-analyses after a single-page-app navigation reported by the first script (no polling)', async () => {
    loadFixture('shop-microdata-pl.html', '/ekspres-kafeo-2000.html');
    await import('../../src/capture/index.js');
    await vi.advanceTimersByTimeAsync(10);
    window.history.pushState({}, '', '/ekspres-kafeo-3000.html');
    await vi.advanceTimersByTimeAsync(5000);
    expect(sent.filter((m) => m.type === 'capture:observe' && m.obs.type === 'product_view')).toHaveLength(1);
    expect(vi.getTimerCount()).toBe(0);
    globalThis.__intentVaultAnalyser.navigated();
    await vi.advanceTimersByTimeAsync(1500 + 10);
    const views = sent.filter((m) => m.type === 'capture:observe' && m.obs.type === 'product_view');
    expect(views).toHaveLength(2);
    expect(sent.some((m) => m.type === 'capture:update' && m.id === 'id-1' && m.final)).toBe(true);
  });

  it('runs once per tab even when injected again', async () => {
    loadFixture('shop-jsonld-graph-de.html', '/p/bosch-gsr-12v-35-06019h8000');
    await import('../../src/capture/index.js');
    await vi.advanceTimersByTimeAsync(10);
    vi.resetModules();
    await import('../../src/capture/index.js');
    await vi.advanceTimersByTimeAsync(10);
    expect(sent.filter((m) => m.type === 'capture:hello')).toHaveLength(1);
  });
});
