/**
 * The first content script (bundled into first.js, a few KB), the only one that runs in every tab.
 * It asks probe.js whether the page looks like shopping; only then does it ask the background to
 * load the analyser (index.js -> analyser.js, injected with scripting.executeScript after the
 * privacy gate). Single-page-app navigations arrive as a `nav:changed` message from the background
 * (webNavigation.onHistoryStateUpdated) or as popstate; nothing polls. No webextension-polyfill here:
 * `browser` (Firefox) or `chrome` (Chrome, promise-returning in MV3) directly, to stay small.
 */
import { shoppingReason } from './probe.js';

const api = globalThis.browser || globalThis.chrome;
const RECHECK_MS = 2500; // client-rendered shops add their markup after load: look once more
const SETTLE_MS = 1500; // after an SPA navigation, let the new view render

let requested = false;
let lastUrl = '';
let timer = null;

function analyser() {
  return globalThis.__intentVaultAnalyser || null;
}

function check(recheck) {
  lastUrl = location.href;
  if (analyser()) { analyser().navigated(); return; }
  if (requested) return;
  if (shoppingReason(document, location.href)) {
    requested = true;
    Promise.resolve(api.runtime.sendMessage({ type: 'capture:load', url: location.href }))
      .then((res) => { if (!res || !res.loaded) requested = false; })
      .catch(() => { requested = false; });
  } else if (recheck) {
    clearTimeout(timer);
    const url = location.href;
    timer = setTimeout(() => { if (location.href === url) check(false); }, RECHECK_MS);
  }
}

function onNavigated() {
  if (location.href === lastUrl) return;
  if (analyser()) { lastUrl = location.href; analyser().navigated(); return; }
  clearTimeout(timer);
  timer = setTimeout(() => check(true), SETTLE_MS);
}

if (window.top === window) {
  check(true);
  window.addEventListener('popstate', onNavigated);
  api.runtime.onMessage.addListener((msg) => {
    if (msg && msg.type === 'nav:changed') onNavigated();
    return undefined;
  });
}
