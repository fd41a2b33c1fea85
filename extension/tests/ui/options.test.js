// @vitest-environment jsdom
import { describe, it, expect, vi, beforeEach } from 'vitest';
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const src = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src');
const sent = [];
let state;
let pollAnswers;
let granted = false;
let terms;
const ROSTER = { version: '1', default: 'cc-sd-offers', agreements: [
  { id: 'cc-sd-base', title: 'Service delivery only', text: 'Only to deliver what I ask for.' },
  { id: 'cc-sd-offers', title: 'Service delivery and offers', text: 'Also offers I asked for.' }] };
vi.mock('webextension-polyfill', () => ({
  default: {
    permissions: {
      contains: async () => granted,
      request: async () => { granted = true; return true; },
    },
    runtime: {
      sendMessage: async (msg) => {
        sent.push(msg);
        switch (msg.type) {
          case 'ui:state': return { ok: true, state };
          case 'ui:taxonomy': return { ok: true, policy: { categories: [{ id: 'health', name: 'Health (sensitive)' }, { id: 'religion', name: 'Religion' }], sensitive: ['health', 'religion'] } };
          case 'ui:terms': return terms;
          case 'ui:terms:save': {
            const c = { ...terms.choices, vendors: { ...terms.choices.vendors } };
            if (!msg.vendor_id) c.default = msg.agreement_id;
            else if (msg.agreement_id) c.vendors[msg.vendor_id] = msg.agreement_id;
            else delete c.vendors[msg.vendor_id];
            terms = { ...terms, choices: c };
            return terms;
          }
          case 'ui:queue': return { ok: true, events: [{ id: 'e1', type: 'search', query: '<b>tv</b>' }] };
          case 'ui:pair:start': state = { ...state, pairing: { user_code: 'WDJB-MJHT', verification_uri: 'https://vault.example/device', verification_uri_complete: 'https://vault.example/device?user_code=WDJB-MJHT', status: 'pending' } };
            return { ok: true, pairing: { ...state.pairing, interval: 1 } };
          case 'ui:pair:poll': { const status = pollAnswers.shift() || 'pending'; if (status === 'paired') state = { ...state, paired: true, pairing: null }; return { ok: true, status }; }
          case 'ui:settings:save': state = { ...state, ...(msg.never_record ? { never_record: msg.never_record.map((s) => s.replace(/^https?:\/\/(www\.)?/, '').replace(/\/.*$/, '')) } : {}), ...(msg.opt_in_categories ? { opt_in_categories: msg.opt_in_categories } : {}) };
            return { ok: true, state };
          default: return { ok: true };
        }
      },
    },
  },
}));

const flush = async (n = 3) => { for (let i = 0; i < n; i++) await new Promise((r) => setTimeout(r, 0)); };

describe('options page', () => {
  beforeEach(async () => {
    vi.resetModules();
    vi.useRealTimers();
    sent.length = 0;
    pollAnswers = ['pending', 'paired'];
    granted = false;
    terms = { ok: false, code: 'unpaired', error: 'Pair with your vault to choose your terms here.' };
    state = { paired: false, paused: false, vault_url: 'http://127.0.0.1:8000', pairing: null, never_record: [], opt_in_categories: [], vault_opt_in_categories: [] };
    const html = readFileSync(join(src, 'options/options.html'), 'utf8');
    document.body.innerHTML = html.slice(html.indexOf('<body')).replace(/^<body[^>]*>/, '').replace(/<\/body>[\s\S]*$/, '').replace(/<script[^>]*><\/script>/g, '');
    await import('../../src/options/options.js');
    await flush();
  });

  it('pairs: shows the user code and verification link, polls until paired', async () => {
    vi.useFakeTimers();
    document.querySelector('[data-testid=vault-url]').value = 'https://vault.example';
    document.querySelector('[data-testid=pair-button]').click();
    await vi.advanceTimersByTimeAsync(0);
    expect(sent).toContainEqual({ type: 'ui:pair:start', vault_url: 'https://vault.example' });
    expect(document.querySelector('[data-testid=user-code]').textContent).toBe('WDJB-MJHT');
    expect(document.querySelector('[data-testid=verification-link]').href).toBe('https://vault.example/device?user_code=WDJB-MJHT');
    expect(document.querySelector('[data-testid=pairing]').hidden).toBe(false);
    await vi.advanceTimersByTimeAsync(1000);
    await vi.advanceTimersByTimeAsync(1000);
    expect(sent.filter((m) => m.type === 'ui:pair:poll')).toHaveLength(2);
    expect(document.querySelector('[data-testid=pair-status]').dataset.paired).toBe('true');
    expect(document.querySelector('[data-testid=pairing]').hidden).toBe(true);
    vi.useRealTimers();
  });

  it('offers to grant site access when the browser has not, and hides the offer once granted', async () => {
    const box = document.querySelector('[data-testid=site-access]');
    expect(box.hidden).toBe(false);
    document.querySelector('[data-testid=grant-access]').click();
    await flush();
    expect(box.hidden).toBe(true);
  });

  it('adds a never-record site and lists it with a remove button', async () => {
    document.querySelector('[data-testid=never-record-input]').value = 'https://www.bank.example/login';
    document.querySelector('[data-testid=never-record-add]').click();
    await flush();
    expect(sent).toContainEqual({ type: 'ui:settings:save', never_record: ['https://www.bank.example/login'] });
    const item = document.querySelector('[data-testid=never-record-item]');
    expect(item.dataset.site).toBe('bank.example');
    expect(item.querySelector('[data-testid=never-record-remove]')).not.toBeNull();
  });

  it('lists sensitive categories as opt-in checkboxes', async () => {
    const boxes = document.querySelectorAll('input[data-testid=opt-in]');
    expect([...boxes].map((b) => b.dataset.category)).toEqual(['health', 'religion']);
    boxes[0].checked = true;
    boxes[0].dispatchEvent(new Event('change'));
    await flush();
    expect(sent).toContainEqual({ type: 'ui:settings:save', opt_in_categories: ['health'] });
  });

  it('previews the exact request body as text', () => {
    const pre = document.querySelector('[data-testid=queue-preview]');
    expect(JSON.parse(pre.textContent)).toEqual({ events: [{ id: 'e1', type: 'search', query: '<b>tv</b>' }] });
    expect(pre.querySelector('b')).toBeNull();
  });

  it('links to the choices the vault keeps, on the vault the extension is set to', () => {
    expect(document.querySelector('[data-testid=vault-choices]').hidden).toBe(false);
    expect(document.querySelector('[data-testid=link-reports]').href).toBe('http://127.0.0.1:8000/reports');
    expect(document.querySelector('[data-testid=link-terms]').href).toBe('http://127.0.0.1:8000/terms');
  });

  it('before pairing, the terms card says to pair', () => {
    expect(document.querySelector('[data-testid=terms-state]').textContent).toBe('Pair with your vault to choose your terms here.');
    expect(document.getElementById('terms-choices').hidden).toBe(true);
  });

  it('chooses the default agreement and one vendor\'s, saved in the vault at once', async () => {
    terms = { ok: true, roster: ROSTER, choices: { default: 'cc-sd-offers', vendors: {}, vendor_apps: [{ id: 'ivc_shop', name: 'Demo Outfitters' }] } };
    vi.resetModules();
    await import('../../src/options/options.js');
    await flush();
    const def = document.querySelector('[data-testid=terms-default]');
    expect(document.getElementById('terms-choices').hidden).toBe(false);
    expect([...def.options].map((o) => o.textContent)).toEqual(['Service delivery only', 'Service delivery and offers']);
    expect(def.value).toBe('cc-sd-offers');
    expect(document.querySelector('[data-testid=terms-summary]').textContent).toBe('Also offers I asked for.');
    def.value = 'cc-sd-base';
    def.dispatchEvent(new Event('change'));
    await flush();
    expect(sent).toContainEqual({ type: 'ui:terms:save', agreement_id: 'cc-sd-base', vendor_id: null });
    expect(document.querySelector('[data-testid=message]').textContent).toBe('Saved in your vault.');
    expect(document.querySelector('[data-testid=terms-summary]').textContent).toBe('Only to deliver what I ask for.');
    const vendor = document.querySelector('[data-testid=terms-vendor][data-vendor=ivc_shop]');
    expect(vendor.labels[0].textContent).toBe('Demo Outfitters');
    expect(vendor.options[0].textContent).toBe('Same as my default (Service delivery only)');
    vendor.value = 'cc-sd-offers';
    vendor.dispatchEvent(new Event('change'));
    await flush();
    expect(sent).toContainEqual({ type: 'ui:terms:save', agreement_id: 'cc-sd-offers', vendor_id: 'ivc_shop' });
    expect(document.querySelector('[data-testid=terms-vendor][data-vendor=ivc_shop]').value).toBe('cc-sd-offers');
    const again = document.querySelector('[data-testid=terms-vendor][data-vendor=ivc_shop]');
    again.value = '';
    again.dispatchEvent(new Event('change'));
    await flush();
    expect(sent).toContainEqual({ type: 'ui:terms:save', agreement_id: null, vendor_id: 'ivc_shop' });
  });
});
