// @vitest-environment jsdom
import { describe, it, expect, vi, beforeEach } from 'vitest';
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const src = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src');
const sent = [];
let state;
vi.mock('webextension-polyfill', () => ({
  default: {
    runtime: {
      sendMessage: async (msg) => {
        sent.push(msg);
        if (msg.type === 'ui:state') return { ok: true, state };
        if (msg.type === 'ui:remote') return { ok: true, signals: [{ category: 'electronics.tv', category_name: 'Televisions', score: 0.82, stage: 'motivation' }], inbox: { offers: 2, questions: 1 } };
        if (msg.type === 'ui:delete') { state = { ...state, today: state.today.filter((e) => e.id !== msg.id) }; return { ok: true, remote: 'deleted', state }; }
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
const flush = () => new Promise((r) => setTimeout(r, 0));

describe('popup', () => {
  beforeEach(() => {
    vi.resetModules();
    sent.length = 0;
    state = {
      paired: true, paused: false, vault_paused: false, queued: 1,
      today: [{ id: 'id-1', type: 'product_view', ts: new Date().toISOString(), origin: 'https://shop.example', category: 'electronics.tv',
        label: '<img src=x onerror="window.__pwned=1">TV' }],
    };
  });
  it('renders state, today with delete buttons, intents and the inbox badge, all as text', async () => {
    loadHtml('popup/popup.html');
    await import('../../src/popup/popup.js');
    await flush(); await flush();
    expect(document.querySelector('[data-testid=pair-status]').dataset.paired).toBe('true');
    const items = document.querySelectorAll('[data-testid=today-item]');
    expect(items).toHaveLength(1);
    expect(items[0].querySelector('img')).toBeNull();
    expect(items[0].textContent).toContain('<img src=x');
    expect(window.__pwned).toBeUndefined();
    expect(document.querySelector('[data-testid=signal-item]').dataset.stage).toBe('motivation');
    const badge = document.querySelector('[data-testid=inbox-badge]');
    expect(badge.hidden).toBe(false);
    expect(badge.dataset.offers).toBe('2');
    document.querySelector('[data-testid=delete-gesture][data-id="id-1"]').click();
    await flush(); await flush();
    expect(sent).toContainEqual({ type: 'ui:delete', id: 'id-1' });
    expect(document.querySelectorAll('[data-testid=today-item]')).toHaveLength(0);
  });
  it('the pause toggle sends ui:pause', async () => {
    loadHtml('popup/popup.html');
    await import('../../src/popup/popup.js');
    await flush();
    const toggle = document.querySelector('[data-testid=pause-toggle]');
    toggle.checked = true;
    toggle.dispatchEvent(new Event('change'));
    await flush();
    expect(sent).toContainEqual({ type: 'ui:pause', paused: true });
  });
});

describe('stable test ids', () => {
  it.each([
    ['popup/popup.html', ['pair-status', 'pause-toggle', 'today-list', 'signals-list', 'inbox-badge', 'sync-now', 'queue-count', 'open-options', 'declare-input', 'declare-budget', 'declare-button']],
    ['options/options.html', ['vault-url', 'save-vault-url', 'pair-button', 'user-code', 'verification-link', 'pair-status', 'unpair-button', 'never-record-input', 'never-record-add', 'never-record-list', 'categories', 'queue-preview']],
  ])('%s', (file, ids) => {
    loadHtml(file);
    for (const id of ids) expect(document.querySelector(`[data-testid="${id}"]`), id).not.toBeNull();
  });
});
