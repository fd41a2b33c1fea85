/**
 * The content script (bundled by scripts/build.mjs into content.js). Asks the background whether
 * this page may be recorded at all, analyses it with the extractor modules, reports observations,
 * and follows up with dwell/scroll and click gestures. Observations carry no page text beyond the
 * product fields of the gesture shape; the background minimises the URL.
 */
import browser from 'webextension-polyfill';
import { analysePage } from './page.js';
import { createEngagementTracker } from './engagement.js';
import { installActionListeners } from './actions.js';
import { reviewSection, watchReviewReading } from './review.js';

async function send(msg) {
  try { return await browser.runtime.sendMessage(msg); } catch { return null; }
}

async function main() {
  if (window.top !== window) return; // frames (ads, widgets) are not pages the consumer visits
  const url = location.href;
  const hello = await send({ type: 'capture:hello', url });
  if (!hello || !hello.record) return;

  const page = analysePage(document, url);
  const held = [];
  for (const obs of page.observations) {
    const res = await send({ type: 'capture:observe', url, obs });
    for (const ev of res?.recorded || []) if (['product_view', 'compare', 'review_read', 'page_view'].includes(ev.type)) held.push(ev.id);
  }

  const tracker = createEngagementTracker(window, document);
  const flushEngagement = (final) => {
    const snap = tracker.snapshot();
    for (const id of held) send({ type: 'capture:update', id, ...snap, final });
  };
  document.addEventListener('visibilitychange', () => { if (document.visibilityState === 'hidden') flushEngagement(false); });
  window.addEventListener('pagehide', () => flushEngagement(true));

  installActionListeners(document, (kind) => {
    const obs = { type: kind === 'checkout' ? 'checkout_start' : kind };
    if (page.product && ['cart_add', 'wishlist_add', 'share', 'review_write'].includes(obs.type)) {
      obs.product = page.product;
      obs.breadcrumbs = page.breadcrumbs;
    }
    send({ type: 'capture:observe', url: location.href, obs });
  }, { onCartPage: () => page.kind === 'cart' });

  if (page.kind === 'product' && !page.observations.some((o) => o.type === 'review_read')) {
    watchReviewReading(window, reviewSection(document), () => {
      send({ type: 'capture:observe', url: location.href, obs: { type: 'review_read', product: page.product, breadcrumbs: page.breadcrumbs } });
    });
  }
}

main();
