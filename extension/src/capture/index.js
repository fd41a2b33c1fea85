/**
 * The analyser (bundled by scripts/build.mjs into analyser.js). Not a manifest content script: the
 * background injects it (scripting.executeScript) into a tab whose first script (first.js) found
 * the page looks like shopping and that the privacy gate lets through. Asks the background whether
 * this page may be recorded, analyses it with the extractor modules, reports observations, and
 * follows up with dwell/scroll and click gestures. Single-page shops that change the URL without
 * loading a page are re-analysed when first.js reports a navigation (`navigated()`, no polling).
 * Observations carry no page text beyond the product fields of the gesture shape; the background
 * minimises the URL.
 */
import browser from 'webextension-polyfill';
import { analysePage } from './page.js';
import { createEngagementTracker } from './engagement.js';
import { installActionListeners } from './actions.js';
import { reviewSection, watchReviewReading } from './review.js';
import { detectSearch } from './search.js';

const HELD = new Set(['product_view', 'compare', 'review_read', 'page_view']);

async function send(msg) {
  try { return await browser.runtime.sendMessage(msg); } catch { return null; }
}

/** What identifies a page for re-analysis: path and search term (not fragments or tracking params). */
function pageKey(href) {
  try { const u = new URL(href); return `${u.origin}${u.pathname}|${detectSearch(href)?.query || ''}`; } catch { return href; }
}

let current = null; // {page, held: [ids], tracker, stopReviews}

function flushEngagement(final) {
  if (!current) return;
  const snap = current.tracker.snapshot();
  for (const id of current.held) send({ type: 'capture:update', id, ...snap, final });
}

async function analyse(retry = true) {
  const url = location.href;
  const hello = await send({ type: 'capture:hello', url });
  if (!hello || !hello.record) { current = null; return; }
  let page;
  try {
    page = analysePage(document, url);
  } catch {
    return; // a page the extractors cannot read is simply not recorded
  }
  if (current) finishPage();
  const entry = { page, held: [], tracker: createEngagementTracker(window, document), stopReviews: () => {} };
  current = entry;
  if (page.kind === 'other' && retry) {
    // Client-rendered shops add their product markup after load: look once more a little later.
    setTimeout(() => { if (current === entry && location.href === url) analyse(false); }, 2500);
  }
  for (const obs of page.observations) {
    const res = await send({ type: 'capture:observe', url, obs });
    for (const ev of res?.recorded || []) if (HELD.has(ev.type)) entry.held.push(ev.id);
  }
  if (page.kind === 'product' && !page.observations.some((o) => o.type === 'review_read')) {
    entry.stopReviews = watchReviewReading(window, reviewSection(document), () => {
      send({ type: 'capture:observe', url: location.href, obs: { type: 'review_read', product: page.product, breadcrumbs: page.breadcrumbs } });
    });
  }
}

function finishPage() {
  if (!current) return;
  flushEngagement(true);
  current.tracker.stop();
  current.stopReviews();
  current = null;
}

function main() {
  if (window.top !== window) return; // frames (ads, widgets) are not pages the consumer visits
  analyse();
  document.addEventListener('visibilitychange', () => { if (document.visibilityState === 'hidden') flushEngagement(false); });
  window.addEventListener('pagehide', finishPage);
  // Back/forward cache: a restored page is a new visit.
  window.addEventListener('pageshow', (e) => { if (e.persisted && !current) analyse(false); });

  installActionListeners(document, (kind) => {
    const page = current?.page;
    if (!page) return;
    const obs = { type: kind === 'checkout' ? 'checkout_start' : kind };
    if (page.product && ['cart_add', 'wishlist_add', 'share', 'review_write'].includes(obs.type)) {
      obs.product = page.product;
      obs.breadcrumbs = page.breadcrumbs;
    }
    send({ type: 'capture:observe', url: location.href, obs });
  }, { onCartPage: () => current?.page.kind === 'cart' });

  // Single-page apps: history.pushState does not reload the content script. first.js hears of each
  // navigation (the background's webNavigation.onHistoryStateUpdated, popstate) and calls navigated().
  let lastKey = pageKey(location.href);
  let timer = null;
  const onMaybeNavigated = () => {
    const key = pageKey(location.href);
    if (key === lastKey) return;
    lastKey = key;
    finishPage();
    clearTimeout(timer);
    timer = setTimeout(() => analyse(), 1500); // let the new view render its markup
  };
  // Shared with first.js through the content scripts' own (isolated) global scope, never the page's.
  globalThis.__intentVaultAnalyser = { navigated: onMaybeNavigated };
}

if (!globalThis.__intentVaultAnalyser) main();
