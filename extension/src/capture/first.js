/**
 * The first content script (bundled into first.js, a few KB), the only one that runs in every tab.
 * It takes the page half of the first look (probe.js pageVerdict: markup, price elements, a price
 * by the heading, cart controls; no URL patterns, which the background checks on webNavigation
 * events) and only when the page looks like shopping asks the background to load the analyser
 * (index.js -> analyser.js, injected with scripting.executeScript after the privacy gate).
 * It registers no runtime listener: single-page-app navigations reach it from the background as a
 * scripting.executeScript call of `__intentVaultFirst.navigated(shopUrl)` in this isolated world
 * (webNavigation.onHistoryStateUpdated), or as popstate; nothing polls. The extension API is touched
 * only on a shopping page. No webextension-polyfill here: `browser` (Firefox) or `chrome` directly.
 */
import { pageVerdict, ARTICLE } from './probe.js';

// document.URL rather than location.href: the Location object carries its properties on the instance, and building
// it in this world on every page costs heap for nothing (the URL is the same).
const RECHECK_MS = 2500; // client-rendered shops add their markup after load: look once more
const SETTLE_MS = 1500; // after an SPA navigation, let the new view render

let requested = false;
let lastUrl = '';
let timer = null;

function analyser() {
  return globalThis.__intentVaultAnalyser || null;
}

function load() {
  requested = true;
  const api = globalThis.browser || globalThis.chrome;
  Promise.resolve(api.runtime.sendMessage({ type: 'capture:load', url: document.URL }))
    .then((res) => { if (!res || !res.loaded) requested = false; })
    .catch(() => { requested = false; });
}

/** @param {boolean} recheck look once more later when nothing was found; @param {boolean} shopUrl the background says the URL is a shopping URL */
function check(recheck, shopUrl = false) {
  lastUrl = document.URL;
  if (analyser()) { analyser().navigated(); return; }
  if (requested) return;
  const verdict = shopUrl ? 'url' : pageVerdict(document);
  if (verdict && verdict !== ARTICLE) load();
  else if (recheck && !verdict) {
    clearTimeout(timer);
    const url = document.URL;
    timer = setTimeout(() => { if (document.URL === url) check(false); }, RECHECK_MS);
  }
}

/** A navigation without a page load (pushState from the background's webNavigation event, or popstate). */
function navigated(shopUrl = false) {
  if (document.URL === lastUrl) return;
  if (analyser()) { lastUrl = document.URL; analyser().navigated(); return; }
  clearTimeout(timer);
  timer = setTimeout(() => check(true, shopUrl), SETTLE_MS);
}

if (window.top === window && !globalThis.__intentVaultFirst) {
  // The content scripts' own isolated global scope, never the page's.
  globalThis.__intentVaultFirst = { navigated };
  check(true);
  window.addEventListener('popstate', () => navigated(false));
}
