/** Options: vault URL, pairing (device flow), terms, never-record sites, sensitive opt-ins, queue preview. */
import browser from 'webextension-polyfill';
import { send, h, clear, byId } from '../ui/common.js';

/** The status line: a notice box shown only when it says something. */
function say(text) { const m = byId('message'); m.textContent = text || ''; m.hidden = !text; }

const ORIGINS = { origins: ['http://*/*', 'https://*/*'] };

let state = null;
let pollTimer = null;

function renderPairing(p) {
  const box = byId('pairing');
  if (!p || p.status !== 'pending') {
    box.hidden = true;
    if (p && (p.status === 'expired' || p.status === 'denied')) say(p.status === 'expired' ? 'The code expired. Pair again.' : 'Pairing was refused in the vault.');
    return;
  }
  box.hidden = false;
  byId('user-code').textContent = p.user_code;
  const link = byId('verification-link');
  link.textContent = p.verification_uri;
  link.href = p.verification_uri_complete || p.verification_uri;
  byId('pairing-state').textContent = 'Waiting for you to approve in the vault…';
}

/** Links to the choices the vault keeps (demand statistics, terms): hidden until a valid vault address is set. */
function renderVaultLinks(vaultUrl) {
  let base = null;
  try { base = vaultUrl ? new URL(vaultUrl) : null; } catch { base = null; }
  const usable = base !== null && (base.protocol === 'https:' || base.protocol === 'http:');
  byId('vault-choices').hidden = !usable;
  if (!usable) return;
  byId('link-reports').href = new URL('/reports', base).href;
  byId('link-terms').href = new URL('/terms', base).href;
}

function render(s) {
  state = s;
  byId('vault-url').value = s.vault_url || '';
  const status = byId('pair-status');
  status.textContent = s.paired ? 'Paired' : 'Not paired';
  status.dataset.paired = String(s.paired);
  status.classList.toggle('ok', !!s.paired);
  byId('unpair-button').hidden = !s.paired;
  byId('pair-button').textContent = s.paired ? 'Pair again' : 'Pair with vault';
  renderPairing(s.pairing);
  renderVaultLinks(s.vault_url);
  const list = byId('never-record-list');
  clear(list);
  for (const site of s.never_record) {
    list.append(h('li', { 'data-testid': 'never-record-item', 'data-site': site }, h('span', { text: site }),
      h('button', { type: 'button', class: 'link', 'data-testid': 'never-record-remove', 'data-site': site, 'aria-label': `Remove ${site}`, text: 'Remove',
        onclick: () => save({ never_record: state.never_record.filter((x) => x !== site) }) })));
  }
  for (const box of document.querySelectorAll('input[data-testid=opt-in]')) {
    box.checked = s.opt_in_categories.includes(box.dataset.category);
    box.title = s.vault_opt_in_categories.includes(box.dataset.category) ? 'Also opted in in your vault' : '';
  }
}

async function save(patch) {
  const res = await send('ui:settings:save', patch);
  say(res.ok ? 'Saved.' : res.error);
  if (res.state) render(res.state);
  await preview();
}

async function preview() {
  const res = await send('ui:queue');
  byId('queue-preview').textContent = JSON.stringify({ events: (res.events || []).slice(0, 100) }, null, 2);
}

function schedulePoll(intervalS) {
  clearTimeout(pollTimer);
  pollTimer = setTimeout(async () => {
    const res = await send('ui:pair:poll');
    const st = await send('ui:state');
    if (st.ok) render(st.state);
    if (res.ok && res.status === 'pending') schedulePoll(intervalS);
    else if (res.ok && res.status === 'paired') { say('Paired with your vault.'); await loadTerms(); }
  }, Math.max(1, intervalS) * 1000);
}

async function loadCategories() {
  const res = await send('ui:taxonomy');
  const list = byId('categories');
  clear(list);
  if (!res.ok) return;
  const sensitive = res.policy.sensitive || [];
  const names = new Map(res.policy.categories.map((c) => [c.id, c.name]));
  for (const s of sensitive) {
    const id = typeof s === 'string' ? s : s.id;
    list.append(h('li', {}, h('label', {},
      h('input', { type: 'checkbox', 'data-testid': 'opt-in', 'data-category': id, id: `opt-in-${id}`,
        onchange: (e) => {
          const set = new Set(state.opt_in_categories);
          if (e.target.checked) set.add(id); else set.delete(id);
          save({ opt_in_categories: [...set] });
        } }),
      ` ${names.get(id) || id}`)));
  }
}

/** The terms card: the roster agreement proffered by default and per vendor, saved in the vault at once. */
function renderTerms(res) {
  const box = byId('terms-choices');
  const state = byId('terms-state');
  if (!res.ok) {
    box.hidden = true;
    state.hidden = false;
    state.textContent = res.error;
    return;
  }
  const { roster, choices } = res;
  const titles = new Map(roster.agreements.map((a) => [a.id, a.title]));
  const options = (selected, extra) => [
    ...(extra ? [h('option', { value: '', text: extra })] : []),
    ...roster.agreements.map((a) => h('option', { value: a.id, text: a.title, ...(a.id === selected ? { selected: '' } : {}) })),
  ];
  state.hidden = true;
  box.hidden = false;
  const def = byId('terms-default');
  clear(def);
  def.append(...options(choices.default));
  def.value = choices.default;
  const chosen = roster.agreements.find((a) => a.id === choices.default);
  byId('terms-summary').textContent = chosen ? chosen.text || '' : '';
  const list = byId('terms-vendors');
  clear(list);
  const apps = choices.vendor_apps || [];
  if (!apps.length) list.append(h('li', { class: 'muted', text: 'No vendor apps in this vault yet.' }));
  for (const app of apps) {
    const id = `terms-vendor-${app.id}`;
    const select = h('select', { id, 'data-testid': 'terms-vendor', 'data-vendor': app.id,
      onchange: (e) => saveTerms(e.target.value || null, app.id) },
      ...options(choices.vendors[app.id] || '', `Same as my default (${titles.get(choices.default) || choices.default})`));
    select.value = choices.vendors[app.id] || '';
    list.append(h('li', {}, h('label', { for: id, text: app.name }), select));
  }
}

async function loadTerms() { renderTerms(await send('ui:terms')); }

async function saveTerms(agreementId, vendorId = null) {
  const res = await send('ui:terms:save', { agreement_id: agreementId, vendor_id: vendorId });
  say(res.ok ? 'Saved in your vault.' : res.error);
  renderTerms(res.ok ? res : await send('ui:terms'));
}

byId('terms-default').addEventListener('change', (e) => saveTerms(e.target.value));
byId('save-vault-url').addEventListener('click', () => save({ vault_url: byId('vault-url').value }));
byId('pair-button').addEventListener('click', async () => {
  const res = await send('ui:pair:start', { vault_url: byId('vault-url').value });
  if (!res.ok) { say(res.error); return; }
  renderPairing({ ...res.pairing, status: 'pending' });
  schedulePoll(res.pairing.interval);
});
byId('pair-cancel').addEventListener('click', async () => { clearTimeout(pollTimer); await send('ui:pair:cancel'); const st = await send('ui:state'); if (st.ok) render(st.state); });
byId('unpair-button').addEventListener('click', async () => { await send('ui:unpair'); const st = await send('ui:state'); if (st.ok) render(st.state); await loadTerms(); });
byId('never-record-add').addEventListener('click', () => {
  const v = byId('never-record-input').value.trim();
  if (!v) return;
  byId('never-record-input').value = '';
  save({ never_record: [...state.never_record, v] });
});
byId('refresh-preview').addEventListener('click', preview);

/** Firefox treats MV3 host permissions as optional: offer to grant them (needs a click). */
async function checkAccess() {
  if (!browser.permissions?.contains) return;
  const ok = await browser.permissions.contains(ORIGINS).catch(() => true);
  byId('access').hidden = ok;
}
byId('grant-access').addEventListener('click', async () => {
  await browser.permissions.request(ORIGINS).catch(() => false);
  await checkAccess();
});

(async () => {
  await checkAccess();
  await loadCategories();
  const st = await send('ui:state');
  if (st.ok) {
    render(st.state);
    if (st.state.pairing?.status === 'pending') schedulePoll(5);
  }
  document.body.dataset.rendered = 'true'; // the first answer is on screen (tests wait for it before clicking)
  await loadTerms();
  await preview();
})();
