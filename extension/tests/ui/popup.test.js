// @vitest-environment jsdom
import { describe, it, expect, vi, beforeEach } from 'vitest';
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const src = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src');
const sent = [];
let state;
let activeTab;
const TAB = { id: 42, url: 'https://shop.example/p/samsung-tv-65-123', incognito: false };
const PRODUCT = { id: 'id-1', type: 'product_view', ts: new Date().toISOString(), origin: 'https://shop.example', category: 'electronics.tv',
  category_name: 'Televisions', label: '65-inch TV', brand: 'Samsung', price: 899, currency: 'EUR', tab: 42 };
vi.mock('webextension-polyfill', () => ({
  default: {
    tabs: { query: async () => (activeTab ? [activeTab] : []), get: async (id) => ({ ...activeTab, id }) },
    runtime: {
      sendMessage: async (msg) => {
        sent.push(msg);
        if (msg.type === 'ui:state') return { ok: true, state };
        if (msg.type === 'ui:remote') return { ok: true, signals: [{ category: 'electronics.tv', category_name: 'Televisions', score: 0.82, stage: 'motivation' }], inbox: { offers: 2, questions: 1 } };
        if (msg.type === 'ui:delete') {
          const keep = (e) => e.id !== msg.id;
          state = { ...state, today: state.today.filter(keep), here: state.here && { ...state.here, recorded: state.here.recorded.filter(keep) } };
          return { ok: true, remote: 'deleted', state };
        }
        if (msg.type === 'ui:never-record') { state = { ...state, here: { ...state.here, recordable: false, reason: 'never_record' } }; return { ok: true, site: 'shop.example', dropped: 1, state }; }
        if (msg.type === 'ui:pause') { state = { ...state, paused: msg.paused }; return { ok: true, state }; }
        return { ok: true };
      },
      openOptionsPage: vi.fn(),
    },
    action: { setBadgeText: vi.fn(async () => {}) },
  },
}));

function loadHtml(file) {
  const html = readFileSync(join(src, file), 'utf8');
  document.body.innerHTML = html.slice(html.indexOf('<body'), html.lastIndexOf('</body>')).replace(/^<body[^>]*>/, '').replace(/<script[^>]*><\/script>/g, '');
}
const flush = async (n = 4) => { for (let i = 0; i < n; i++) await new Promise((r) => setTimeout(r, 0)); };
const $ = (id) => document.querySelector(`[data-testid="${id}"]`);
async function open() {
  loadHtml('popup/popup.html');
  await import('../../src/popup/popup.js');
  await flush();
}

describe('popup', () => {
  beforeEach(() => {
    vi.resetModules();
    sent.length = 0;
    activeTab = TAB;
    state = {
      paired: true, paused: false, vault_paused: false, queued: 1, vault_url: 'http://127.0.0.1:8000',
      today: [PRODUCT, { id: 'id-2', type: 'search', ts: new Date().toISOString(), origin: 'https://other.example', category: null, label: '<img src=x onerror="window.__pwned=1">TV' }],
      here: { site: 'shop.example', recordable: true, reason: '', recorded: [PRODUCT] },
    };
  });

  it('says what this page was recorded as, for the active tab', async () => {
    await open();
    expect(sent[0]).toEqual({ type: 'ui:state', tab: { id: 42, url: TAB.url, incognito: false } });
    expect($('here-summary').textContent).toBe('Recorded here:');
    expect([...document.querySelectorAll('[data-testid=here-item]')].map((li) => li.textContent)).toEqual(['product view: 65-inch TV, Samsung, 899 EUR']);
    expect($('never-record-site').hidden).toBe(false);
    expect($('never-record-site').textContent).toBe("Don't record shop.example");
    expect($('delete-here').hidden).toBe(false);
  });

  it('says "nothing recorded here" and offers no delete where nothing was recorded', async () => {
    state.here = { site: 'news.example', recordable: true, reason: '', recorded: [] };
    await open();
    expect($('here-summary').textContent).toBe('Nothing recorded here.');
    expect($('delete-here').hidden).toBe(true);
    expect($('never-record-site').hidden).toBe(false);
  });

  it('a tab it cannot read (no site access, a browser page) records nothing and offers nothing', async () => {
    activeTab = { id: 5 }; // no url: the browser has not granted access to this site
    state.here = null;
    await open();
    expect(sent[0]).toEqual({ type: 'ui:state', tab: null });
    expect($('here-summary').textContent).toBe('Nothing recorded here.');
    expect($('never-record-site').hidden).toBe(true);
    expect($('delete-here').hidden).toBe(true);
  });

  it("one click: don't record this site", async () => {
    await open();
    $('never-record-site').click();
    await flush();
    expect(sent).toContainEqual({ type: 'ui:never-record', url: TAB.url, tab: { id: 42, url: TAB.url, incognito: false } });
    expect($('here-summary').textContent).toBe('Never recorded: shop.example is on your never-record list.');
    expect($('never-record-site').hidden).toBe(true);
    expect($('message').textContent).toBe('shop.example will not be recorded (1 waiting gestures dropped).');
  });

  it('one click: delete this (every gesture recorded from this page)', async () => {
    await open();
    $('delete-here').click();
    await flush();
    expect(sent.filter((m) => m.type === 'ui:delete').map((m) => m.id)).toEqual(['id-1']);
    expect($('here-summary').textContent).toBe('Nothing recorded here.');
    expect($('message').textContent).toBe('Deleted.');
    expect(document.querySelectorAll('[data-testid=today-item]')).toHaveLength(1);
  });

  it("today's gestures by category name, with delete buttons, all as text", async () => {
    await open();
    const groups = [...document.querySelectorAll('[data-testid=today-group]')];
    expect(groups.map((g) => g.querySelector('h3').textContent)).toEqual(['Televisions (1)', 'unclassified (1)']);
    const items = document.querySelectorAll('[data-testid=today-item]');
    expect(items).toHaveLength(2);
    expect(items[1].querySelector('img')).toBeNull();
    expect(items[1].textContent).toContain('<img src=x');
    expect(window.__pwned).toBeUndefined();
    document.querySelector('[data-testid=delete-gesture][data-id="id-2"]').click();
    await flush();
    expect(sent).toContainEqual({ type: 'ui:delete', id: 'id-2', tab: { id: 42, url: TAB.url, incognito: false } });
    expect(document.querySelectorAll('[data-testid=today-item]')).toHaveLength(1);
  });

  it('top intents with their stage as steps, the inbox badge, and the pairing state with the vault address', async () => {
    await open();
    const item = $('signal-item');
    expect(item.dataset.stage).toBe('motivation');
    expect(item.querySelector('.name').textContent).toBe('Televisions');
    const steps = [...item.querySelectorAll('ol.stages li')];
    expect(steps.map((s) => s.className)).toEqual(['done', 'done', 'current', '', '']);
    expect(item.querySelector('[aria-current=step]').textContent).toBe('motivation');
    expect($('inbox-badge').hidden).toBe(false);
    expect($('inbox-badge').dataset.offers).toBe('2');
    expect($('pair-status').dataset.paired).toBe('true');
    expect($('vault-address').textContent).toBe('Paired with http://127.0.0.1:8000');
  });

  it('not paired: says so with the address, and asks the vault for nothing', async () => {
    state = { ...state, paired: false };
    await open();
    expect($('pair-status').textContent).toBe('Not paired');
    expect($('vault-address').textContent).toBe('Not paired (vault: http://127.0.0.1:8000)');
    expect(sent.map((m) => m.type)).toEqual(['ui:state']);
    expect($('signals-empty').hidden).toBe(false);
  });

  it('the pause toggle sends ui:pause; an empty declaration sends nothing and says why', async () => {
    await open();
    const toggle = $('pause-toggle');
    toggle.checked = true;
    toggle.dispatchEvent(new Event('change'));
    await flush();
    expect(sent).toContainEqual({ type: 'ui:pause', paused: true, tab: { id: 42, url: TAB.url, incognito: false } });
    $('declare-form').dispatchEvent(new Event('submit', { cancelable: true }));
    await flush();
    expect(sent.some((m) => m.type === 'ui:declare')).toBe(false);
    expect($('message').textContent).toBe('Say what you are looking for first.');
  });

  it('opened for a given tab (?tab=ID), it speaks about that tab', async () => {
    window.history.replaceState({}, '', '/popup/popup.html?tab=7');
    await open();
    expect(sent[0].tab.id).toBe(7);
    window.history.replaceState({}, '', '/');
  });
});

describe('stable test ids', () => {
  it.each([
    ['popup/popup.html', ['pair-status', 'pause-toggle', 'today-list', 'signals-list', 'inbox-badge', 'sync-now', 'queue-count', 'open-options', 'declare-input', 'declare-budget', 'declare-button', 'here', 'here-summary', 'here-list', 'never-record-site', 'delete-here', 'vault-address']],
    ['options/options.html', ['vault-url', 'save-vault-url', 'pair-button', 'user-code', 'verification-link', 'pair-status', 'unpair-button', 'never-record-input', 'never-record-add', 'never-record-list', 'categories', 'queue-preview']],
  ])('%s', (file, ids) => {
    loadHtml(file);
    for (const id of ids) expect(document.querySelector(`[data-testid="${id}"]`), id).not.toBeNull();
  });
});

describe('extension pages', () => {
  it.each(['popup/popup.html', 'options/options.html'])('%s: the vault stylesheet then ours, one external script, no inline script or style', (file) => {
    const html = readFileSync(join(src, file), 'utf8');
    expect([...html.matchAll(/<link rel="stylesheet" href="([^"]+)">/g)].map((m) => m[1])).toEqual(['../ui/vault.css', '../ui/ui.css']);
    expect([...html.matchAll(/<script\b[^>]*>/g)].map((m) => m[0])).toHaveLength(1);
    expect(html).toMatch(/<script src="[a-z]+\.js"><\/script>/);
    expect(html).not.toMatch(/\sstyle=|<style|\son[a-z]+=/i);
  });
});
