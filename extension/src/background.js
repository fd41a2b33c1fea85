/**
 * Background (Chrome: module service worker; Firefox: event page). Owns storage and the network:
 * content scripts and the popup/options pages talk to it with runtime messages. State lives in
 * storage.local and timers are chrome.alarms, so nothing is lost when the worker is stopped.
 */
import browser from 'webextension-polyfill';
import { Queue } from './queue.js';
import { VaultClient } from './sync.js';
import { Recorder } from './recorder.js';
import { compileTaxonomy } from './classify.js';
import { loadSettings, updateSettings, isPaired, isPaused, normalizeSite } from './settings.js';
import { handleMessage } from './messages.js';
import { installNavigation } from './navigation.js';

const storage = browser.storage.local;
const queue = new Queue(storage);
const client = new VaultClient({ storage, queue });

let taxonomyPromise = null;
function taxonomy() {
  if (!taxonomyPromise) {
    taxonomyPromise = fetch(browser.runtime.getURL('policy.json')).then((r) => r.json()).then(compileTaxonomy)
      .catch((e) => { console.error('[intent-vault] policy.json unreadable', e); taxonomyPromise = null; return null; });
  }
  return taxonomyPromise;
}

async function recorder() {
  return new Recorder({ storage, queue, taxonomy: await taxonomy() });
}

export const ALARMS = { flush: 'iv-flush', settings: 'iv-settings', abandon: 'iv-abandon', pair: 'iv-pair' };

async function ensureAlarms() {
  const have = new Set((await browser.alarms.getAll()).map((a) => a.name));
  if (!have.has(ALARMS.flush)) browser.alarms.create(ALARMS.flush, { periodInMinutes: 1 });
  if (!have.has(ALARMS.settings)) browser.alarms.create(ALARMS.settings, { periodInMinutes: 15 });
  if (!have.has(ALARMS.abandon)) browser.alarms.create(ALARMS.abandon, { periodInMinutes: 60 });
}

async function refreshBadge() {
  const s = await loadSettings(storage);
  const action = browser.action || browser.browserAction;
  if (!action) return;
  let text = '';
  if (!isPaired(s)) text = '!';
  else if (isPaused(s)) text = '||';
  await action.setBadgeText({ text });
}

async function onAlarm(alarm) {
  try {
    if (alarm.name === ALARMS.flush || alarm.name === 'iv-flush-soon') await client.flush();
    else if (alarm.name === ALARMS.settings) { if (isPaired(await loadSettings(storage))) await client.fetchSettings(); }
    else if (alarm.name === ALARMS.abandon) await (await recorder()).checkAbandoned();
    else if (alarm.name === ALARMS.pair) {
      const status = await client.pollPairing();
      if (status !== 'pending') await browser.alarms.clear(ALARMS.pair);
      if (status === 'paired') { await client.fetchSettings().catch(() => {}); await client.flush({ force: true }); }
    }
  } catch (e) {
    console.warn('[intent-vault] alarm', alarm.name, e.message);
  }
  await refreshBadge().catch(() => {});
}

const deps = {
  storage, queue, client, recorder, browser, ALARMS,
  refreshBadge: () => refreshBadge().catch(() => {}),
  loadSettings: () => loadSettings(storage),
  updateSettings: (p) => updateSettings(storage, p),
  normalizeSite,
};

browser.runtime.onInstalled.addListener(async () => { await loadSettings(storage); await ensureAlarms(); await refreshBadge(); });
browser.runtime.onStartup.addListener(async () => { await ensureAlarms(); await refreshBadge(); });
browser.alarms.onAlarm.addListener(onAlarm);
browser.runtime.onMessage.addListener((msg, sender) => handleMessage(deps, msg, sender));
// Shopping URLs are matched here (not in every tab); SPA navigations go to the tab's first script.
installNavigation(deps);
ensureAlarms().catch(() => {});
