/**
 * The first content script (bundled into first.js, a few KB), the only one that runs in every tab.
 * It takes the page half of the first look (probe.js pageVerdict: markup, price elements, a price
 * by the heading, cart controls; no URL patterns, which the background checks on webNavigation
 * events) and only when the page looks like shopping asks the background to load the analyser
 * (index.js -> analyser.js, injected with scripting.executeScript after the privacy gate).
 *
 * On a page that is not a shop it leaves nothing behind: no global, no listener, no closure (a page that looked
 * like nothing at all keeps one timer for 2.5 s, see RECHECK_MS), so its code and the probe's are garbage once it
 * has run. Single-page-app navigations are the background's (webNavigation.onHistoryStateUpdated, which also
 * fires for back/forward between such entries): it tells a loaded analyser, or, after the new view had time to
 * render, loads the analyser for a shopping URL or runs this script again. Nothing polls. The extension API is
 * touched only on a shopping page. No webextension-polyfill here: `browser` (Firefox) or `chrome` directly.
 */
import { pageVerdict, ARTICLE } from './probe.js';

const RECHECK_MS = 2500; // client-rendered shops add their markup after load: look once more

/** A page that looks like shopping: ask the background for the analyser (it applies the privacy gate). */
function load() {
  const api = globalThis.browser || globalThis.chrome;
  // document.URL rather than location.href: no Location object built in this world on every page.
  Promise.resolve(api.runtime.sendMessage({ type: 'capture:load', url: document.URL })).catch(() => {});
  if (!globalThis.__intentVaultShop) {
    // Back/forward within a shop's single-page app: the analyser re-analyses (the background hears of it too,
    // from webNavigation; the analyser ignores a navigation it already saw). Only on shopping pages.
    globalThis.__intentVaultShop = true;
    window.addEventListener('popstate', () => { const a = globalThis.__intentVaultAnalyser; if (a) a.navigated(); });
  }
}

/** @param {boolean} recheck look once more later when the page looked like nothing at all */
function check(recheck) {
  if (globalThis.__intentVaultAnalyser) return; // loaded already (the background tells it of navigations)
  const verdict = pageVerdict(document);
  if (verdict && verdict !== ARTICLE) load();
  else if (recheck && !verdict) {
    const url = document.URL;
    setTimeout(() => { if (document.URL === url) check(false); }, RECHECK_MS);
  }
}

if (window.top === window) check(true);
