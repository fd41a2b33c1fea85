/**
 * The background's half of the first look, on webNavigation events (no script in the tab, no polling):
 * the URL patterns of shopping pages (searches, carts, checkouts, order confirmations, comparisons,
 * reviews, price comparison sites; shopping-url.js shoppingUrl) are matched here, once per navigation, instead
 * of being compiled in every tab. A shopping URL gets the analyser at DOMContentLoaded (after the privacy
 * gate); a single-page navigation goes to the tab's analyser, or is decided here by URL, or gets first.js again.
 */
import { shoppingUrl } from './capture/shopping-url.js';
import { injected, loadAnalyser } from './messages.js';

async function tabIncognito(deps, tabId) {
  try { return !!(await deps.browser.tabs.get(tabId)).incognito; } catch { return true; } // unknown tab: refuse
}

/** webNavigation.onCommitted (top frame): a new document, whose analyser is not loaded yet. */
export function onCommitted(deps, d) {
  if (d.frameId !== 0) return;
  injected.delete(d.tabId);
  forget(d.tabId);
  lastUrl.set(d.tabId, d.url);
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

/** The page half of the first look, as the manifest runs it; run again for an SPA navigation. */
export const FIRST = 'first.js';
/** After an SPA navigation, let the new view render before it is looked at (the analyser waits as long). */
export const SETTLE_MS = 1500;

const lastUrl = new Map(); // tabId -> the URL the tab's page was last looked at (its document, then SPA views)
const pending = new Map(); // tabId -> the settle timer of its last SPA navigation

function forget(tabId) {
  clearTimeout(pending.get(tabId));
  pending.delete(tabId);
  lastUrl.delete(tabId);
}

/**
 * Called in the tab's content-script world by scripting.executeScript: hands the navigation to the analyser when
 * it runs there (it settles and re-analyses by itself). Returns whether it did.
 */
export function tellAnalyser() {
  const analyser = globalThis.__intentVaultAnalyser;
  if (analyser) analyser.navigated();
  return !!analyser;
}

/** The settled SPA view: a shopping URL gets the analyser (after the privacy gate), any other the first look again. */
async function settled(deps, d) {
  pending.delete(d.tabId);
  if (lastUrl.get(d.tabId) !== d.url) return; // another navigation (or a new document) came since
  try {
    if (shoppingUrl(d.url)) await loadAnalyser(deps, { tabId: d.tabId, frameId: 0, url: d.url, incognito: await tabIncognito(deps, d.tabId) });
    else await deps.browser.scripting.executeScript({ target: { tabId: d.tabId, frameIds: [0] }, files: [FIRST] });
  } catch { /* the tab went away, or a page the extension may not script */ }
}

/**
 * webNavigation.onHistoryStateUpdated (top frame): a single-page-app navigation (pushState, replaceState, and
 * back/forward between such entries). A page whose analyser runs is told at once; on any other page nothing
 * of ours is left in the tab, so after SETTLE_MS the background decides by URL, or runs first.js again.
 */
export async function onHistoryUpdated(deps, d, settleMs = SETTLE_MS) {
  if (d.frameId !== 0 || lastUrl.get(d.tabId) === d.url) return;
  lastUrl.set(d.tabId, d.url);
  clearTimeout(pending.get(d.tabId));
  pending.delete(d.tabId);
  let told = false;
  try {
    const [res] = await deps.browser.scripting.executeScript({ target: { tabId: d.tabId, frameIds: [0] }, func: tellAnalyser });
    told = !!res?.result;
  } catch {
    return; // the tab went away, or a page the extension may not script
  }
  if (!told && lastUrl.get(d.tabId) === d.url) pending.set(d.tabId, setTimeout(() => settled(deps, d), settleMs));
}

/** Wire the listeners (background.js). Only http(s) pages. */
export function installNavigation(deps) {
  const nav = deps.browser.webNavigation;
  const filter = { url: [{ schemes: ['http', 'https'] }] };
  nav.onCommitted.addListener((d) => onCommitted(deps, d), filter);
  nav.onDOMContentLoaded.addListener((d) => { onDomReady(deps, d); }, filter);
  nav.onHistoryStateUpdated.addListener((d) => { onHistoryUpdated(deps, d); }, filter);
  // No tabs.onRemoved listener: it would wake the worker on every tab closed, for a few bytes per tab (tab ids are
  // not reused, and the maps go with the worker when it stops).
}
