/** The toolbar popup: pairing/paused state, today's gestures with delete, top intents, inbox badge. */
import browser from 'webextension-polyfill';
import { send, h, clear, byId, timeOf } from '../ui/common.js';

const TYPE_LABEL = {
  search: 'Search', product_view: 'Viewed', compare: 'Compared', review_read: 'Read reviews', price_check: 'Price check',
  wishlist_add: 'Wishlist', cart_add: 'Added to cart', cart_remove: 'Removed from cart', cart_abandon: 'Left cart',
  checkout_start: 'Checkout', purchase: 'Bought', page_view: 'Visited', return_visit: 'Came back', share: 'Shared',
  review_write: 'Wrote review', return: 'Returned', referral: 'Referral', declared_intent: 'Declared',
};

function renderState(state) {
  const status = byId('pair-status');
  status.textContent = state.paired ? 'Paired' : 'Not paired';
  status.dataset.paired = String(state.paired);
  byId('pause-toggle').checked = state.paused;
  byId('vault-paused').hidden = !state.vault_paused;
  byId('queue-count').textContent = state.queued ? `(${state.queued} waiting to send)` : '';
  const list = byId('today-list');
  clear(list);
  for (const e of state.today) {
    const label = e.label ? ` — ${e.label}` : '';
    let host = e.origin;
    try { host = new URL(e.origin).hostname; } catch { /* keep origin */ }
    list.append(h('li', { 'data-testid': 'today-item', 'data-id': e.id, 'data-type': e.type },
      h('span', { class: 'what', text: `${timeOf(e.ts)} ${TYPE_LABEL[e.type] || e.type}${label}` }),
      h('span', { class: 'where muted', text: ` ${host}${e.category ? ` · ${e.category}` : ''}` }),
      h('button', { type: 'button', class: 'delete', 'data-testid': 'delete-gesture', 'data-id': e.id, title: 'Delete this gesture', text: 'Delete', onclick: () => remove(e.id) })));
  }
  byId('today-empty').hidden = state.today.length > 0;
  if (!state.paired) byId('signals-empty').hidden = false;
}

function renderRemote(res) {
  const list = byId('signals-list');
  clear(list);
  const signals = res?.signals || [];
  for (const s of signals.slice(0, 5)) {
    list.append(h('li', { 'data-testid': 'signal-item', 'data-category': s.category, 'data-stage': s.stage },
      h('span', { text: s.category_name || s.category }),
      h('span', { class: 'stage', text: ` ${s.stage}` }),
      h('span', { class: 'muted', text: ` ${Math.round((Number(s.score) || 0) * 100)}%` })));
  }
  byId('signals-empty').hidden = signals.length > 0;
  if (res?.signals && !signals.length) byId('signals-empty').textContent = 'No intents yet.';
  const badge = byId('inbox-badge');
  if (res?.inbox && (res.inbox.offers || res.inbox.questions)) {
    badge.hidden = false;
    badge.dataset.offers = String(res.inbox.offers);
    badge.dataset.questions = String(res.inbox.questions);
    badge.textContent = `${res.inbox.offers} offers · ${res.inbox.questions} questions`;
    browser.action?.setBadgeText?.({ text: String(res.inbox.offers + res.inbox.questions) }).catch(() => {});
  } else {
    badge.hidden = true;
  }
}

async function remove(id) {
  const res = await send('ui:delete', { id });
  byId('message').textContent = res.ok ? (res.remote.startsWith('failed') ? `Deleted here; vault: ${res.remote}` : 'Deleted.') : res.error;
  if (res.state) renderState(res.state);
}

async function load() {
  const res = await send('ui:state');
  if (!res?.ok) { byId('message').textContent = res?.error || 'Background not reachable'; return; }
  renderState(res.state);
  if (res.state.paired) renderRemote(await send('ui:remote'));
}

byId('pause-toggle').addEventListener('change', async (e) => {
  const res = await send('ui:pause', { paused: e.target.checked });
  if (res.state) renderState(res.state);
});
byId('sync-now').addEventListener('click', async () => {
  const res = await send('ui:sync');
  byId('message').textContent = res.ok ? `Sync: ${res.result.status}` : res.error;
  if (res.state) renderState(res.state);
});
byId('declare-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const text = byId('declare-input').value.trim();
  if (!text) return;
  const res = await send('ui:declare', { text, value: byId('declare-budget').value });
  byId('message').textContent = res.ok ? 'Declared.' : res.error;
  if (res.ok) { byId('declare-input').value = ''; byId('declare-budget').value = ''; }
  if (res.state) renderState(res.state);
});
byId('open-options').addEventListener('click', () => browser.runtime.openOptionsPage());
load();
