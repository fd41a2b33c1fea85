/**
 * The toolbar popup: what this page was recorded as (with "don't record this site" and "delete this"),
 * pause, today's gestures by category, top intents with their stage, declare an intent, pairing state.
 * Everything is rendered with textContent (ui/common.js h()), never as HTML.
 */
import browser from 'webextension-polyfill';
import { send, h, clear, byId, timeOf } from '../ui/common.js';
import { describeGesture, byCategory, pairingText, STAGES, stageIndex } from '../ui/describe.js';

/**
 * The tab this popup speaks about: `?tab=<id>` when opened for a given tab (tests, the popup opened in a
 * tab), else the active tab of this window. Its URL is known only where the extension has host access.
 */
async function currentTab() {
  try {
    const id = Number(new URLSearchParams(location.search).get('tab'));
    if (Number.isInteger(id) && id > 0) return await browser.tabs.get(id);
    const [tab] = await browser.tabs.query({ active: true, currentWindow: true });
    return tab || null;
  } catch {
    return null;
  }
}

let tab = null; // {id, url, incognito} of the page this popup speaks about
let here = null; // the background's answer about that page
const tabRef = () => (tab && Number.isInteger(tab.id) && tab.url ? { id: tab.id, url: tab.url, incognito: !!tab.incognito } : null);

function say(text) { byId('message').textContent = text || ''; }

function renderHere(h0) {
  here = h0;
  const summary = byId('here-summary');
  const list = byId('here-list');
  clear(list);
  const recorded = h0?.recorded || [];
  const never = byId('never-record-site');
  const del = byId('delete-here');
  if (!h0) {
    summary.textContent = 'Nothing recorded here.';
  } else if (!h0.site) {
    summary.textContent = 'Nothing is recorded on this kind of page.';
  } else if (!h0.recordable) {
    summary.textContent = {
      never_record: `Never recorded: ${h0.site} is on your never-record list.`,
      paused: recorded.length ? 'Recorded before you paused:' : 'Recording is paused.',
      vault: 'Your vault\'s own pages are never recorded.',
      incognito: 'Private windows are never recorded.',
    }[h0.reason] || 'Nothing recorded here.';
  } else {
    summary.textContent = recorded.length ? 'Recorded here:' : 'Nothing recorded here.';
  }
  for (const e of recorded) {
    list.append(h('li', { 'data-testid': 'here-item', 'data-id': e.id, 'data-type': e.type, text: describeGesture(e) }));
  }
  never.hidden = !(h0 && h0.site && h0.reason !== 'never_record' && h0.reason !== 'vault');
  if (!never.hidden) never.textContent = `Don't record ${h0.site}`;
  del.hidden = recorded.length === 0;
  del.textContent = recorded.length > 1 ? `Delete these ${recorded.length}` : 'Delete this';
}

function renderState(state) {
  const status = byId('pair-status');
  status.textContent = state.paired ? 'Paired' : state.pairing ? 'Pairing…' : 'Not paired';
  status.dataset.paired = String(state.paired);
  status.classList.toggle('ok', !!state.paired);
  byId('vault-address').textContent = pairingText(state);
  byId('pause-toggle').checked = state.paused;
  byId('vault-paused').hidden = !state.vault_paused;
  byId('queue-count').textContent = state.queued ? `(${state.queued} waiting to send)` : '';
  const list = byId('today-list');
  clear(list);
  for (const group of byCategory(state.today)) {
    const ul = h('ul', { class: 'plain today' });
    for (const e of group.items) {
      let host = e.origin;
      try { host = new URL(e.origin).hostname.replace(/^www\./, ''); } catch { /* keep origin */ }
      ul.append(h('li', { 'data-testid': 'today-item', 'data-id': e.id, 'data-type': e.type },
        h('span', { class: 'when muted', text: timeOf(e.ts) }),
        h('span', { class: 'what', text: describeGesture(e) }),
        h('span', { class: 'where muted', text: host }),
        h('button', { type: 'button', class: 'link delete', 'data-testid': 'delete-gesture', 'data-id': e.id, 'aria-label': `Delete ${describeGesture(e)}`, text: 'Delete', onclick: () => remove([e.id]) })));
    }
    list.append(h('div', { class: 'group', 'data-testid': 'today-group', 'data-category': group.name },
      h('h3', { text: `${group.name} (${group.items.length})` }), ul));
  }
  byId('today-empty').hidden = state.today.length > 0;
  if (!state.paired) byId('signals-empty').hidden = false;
  if (state.here !== undefined) renderHere(state.here);
}

function stageSteps(stage) {
  const at = stageIndex(stage);
  return h('ol', { class: 'stages', 'aria-label': `Stage: ${stage}` },
    ...STAGES.map((s, i) => h('li', { class: i < at ? 'done' : i === at ? 'current' : null, 'aria-current': i === at ? 'step' : null, text: s })));
}

function renderRemote(res) {
  const list = byId('signals-list');
  clear(list);
  const signals = res?.signals || [];
  for (const s of signals.slice(0, 5)) {
    list.append(h('li', { 'data-testid': 'signal-item', 'data-category': s.category, 'data-stage': s.stage },
      h('div', { class: 'intent-head' },
        h('span', { class: 'name', text: s.category_name || s.category }),
        h('span', { class: 'stage', text: s.stage }),
        h('span', { class: 'muted', text: `${Math.round((Number(s.score) || 0) * 100)}%` })),
      stageSteps(s.stage)));
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

async function remove(ids) {
  let res = null;
  const failed = [];
  for (const id of ids) {
    res = await send('ui:delete', { id, tab: tabRef() });
    if (!res.ok) { say(res.error); return; }
    if (res.remote.startsWith('failed')) failed.push(res.remote);
  }
  say(failed.length ? `Deleted here; vault: ${failed[0]}` : 'Deleted.');
  if (res?.state) renderState(res.state);
}

async function load() {
  tab = await currentTab();
  const res = await send('ui:state', { tab: tabRef() });
  if (res?.ok) renderState(res.state); else say(res?.error || 'Background not reachable');
  document.body.dataset.rendered = 'true'; // the first answer is on screen (tests wait for it before clicking)
  if (!res?.ok) return;
  if (res.state.paired) renderRemote(await send('ui:remote'));
}

byId('pause-toggle').addEventListener('change', async (e) => {
  const res = await send('ui:pause', { paused: e.target.checked, tab: tabRef() });
  if (res.state) renderState(res.state);
});
byId('never-record-site').addEventListener('click', async () => {
  const ref = tabRef();
  if (!ref) return;
  const res = await send('ui:never-record', { url: ref.url, tab: ref });
  say(res.ok ? `${res.site} will not be recorded${res.dropped ? ` (${res.dropped} waiting gestures dropped)` : ''}.` : res.error);
  if (res.state) renderState(res.state);
});
byId('delete-here').addEventListener('click', () => remove((here?.recorded || []).map((e) => e.id)));
byId('sync-now').addEventListener('click', async () => {
  const res = await send('ui:sync', { tab: tabRef() });
  say(res.ok ? `Sync: ${res.result.status}` : res.error);
  if (res.state) renderState(res.state);
});
byId('declare-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const text = byId('declare-input').value.trim();
  if (!text) { say('Say what you are looking for first.'); byId('declare-input').focus(); return; }
  const res = await send('ui:declare', { text, value: byId('declare-budget').value, tab: tabRef() });
  say(res.ok ? 'Declared.' : res.error);
  if (res.ok) { byId('declare-input').value = ''; byId('declare-budget').value = ''; }
  if (res.state) renderState(res.state);
});
byId('open-options').addEventListener('click', () => browser.runtime.openOptionsPage());
load();
