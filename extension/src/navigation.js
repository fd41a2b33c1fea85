/**
 * The background's half of the first look, on webNavigation events (no script in the tab, no polling):
 * the URL patterns of shopping pages (searches, carts, checkouts, order confirmations, comparisons,
 * reviews, price comparison sites; probe.js shoppingUrl) are matched here, once per navigation, instead
 * of being compiled in every tab. A shopping URL gets the analyser at DOMContentLoaded (after the privacy
 * gate); a single-page navigation is handed to the tab's first script (first.js) in its isolated world.
 */
import { shoppingUrl } from './capture/shopping-url.js';
import { injected, loadAnalyser } from './messages.js';

async function tabIncognito(deps, tabId) {
  try { return !!(await deps.browser.tabs.get(tabId)).incognito; } catch { return true; } // unknown tab: refuse
}

/** webNavigation.onCommitted (top frame): a new document, whose analyser is not loaded yet. */
export function onCommitted(deps, d) {
  if (d.frameId === 0) injected.delete(d.tabId);
}

/** webNavigation.onDOMContentLoaded (top frame): a shopping URL loads the analyser at once. */
export async function onDomReady(deps, d) {
  if (d.frameId !== 0 || !shoppingUrl(d.url)) return false;
  try {
    return await loadAnalyser(deps, { tabId: d.tabId, frameId: 0, url: d.url, incognito: await tabIncognito(deps, d.tabId) });
  } catch {
    return false; // a tab closed or a page the extension may not script (store pages, error pages)
  }
}

/** Called in the tab's content-script world by scripting.executeScript: hands the navigation to first.js. */
export function tellFirst(shopUrl) {
  const first = globalThis.__intentVaultFirst;
  if (first) first.navigated(shopUrl);
}

/** webNavigation.onHistoryStateUpdated (top frame): an SPA navigation, with the URL half of the verdict. */
export async function onHistoryUpdated(deps, d) {
  if (d.frameId !== 0) return;
  try {
    await deps.browser.scripting.executeScript({ target: { tabId: d.tabId, frameIds: [0] }, func: tellFirst, args: [!!shoppingUrl(d.url)] });
  } catch { /* the tab went away, or a page without our first script */ }
}

/** Wire the listeners (background.js). Only http(s) pages. */
export function installNavigation(deps) {
  const nav = deps.browser.webNavigation;
  const filter = { url: [{ schemes: ['http', 'https'] }] };
  nav.onCommitted.addListener((d) => onCommitted(deps, d), filter);
  nav.onDOMContentLoaded.addListener((d) => { onDomReady(deps, d); }, filter);
  nav.onHistoryStateUpdated.addListener((d) => { onHistoryUpdated(deps, d); }, filter);
}
