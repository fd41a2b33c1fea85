/**
 * Content-script extractor: review reading. A reviews page (URL), or a reviews section of a product
 * page that stays in view for a while (IntersectionObserver; reported by the caller).
 */
import { urlPath } from './urlpath.js';

export const REVIEW_PATH = /(^|\/|-|#)(reviews?|customer-reviews|product-reviews|bewertungen|kundenbewertungen|rezensionen|avis|avis-clients|opiniones|opiniao|opiniões|opinioni|recensioni|recensies|beoordelingen|reviews-en-ervaringen|opinie|opinia|recenze|hodnoceni|avaliacoes|avaliações|recensioner|anmeldelser|arvostelut|yorumlar|degerlendirmeler|otzyvy|отзывы|product-reviews)(\/|\.|$|-|\?)/; // lower-cased path, no i flag

export function isReviewUrl(url) {
  try { const u = new URL(url); return REVIEW_PATH.test(urlPath(u)) || /^#(reviews?|customer-?reviews|bewertungen|avis)/.test(u.hash.toLowerCase()); } catch { return false; }
}

/** The element holding reviews on a product page, if any. */
export function reviewSection(doc) {
  return doc.querySelector('#reviews, #customer-reviews, #customerReviews, #review, [id*=reviews i], [class*=reviews i], [itemprop=review], [data-testid*=review i], [id*=bewertungen i], [class*=avis i]');
}

/**
 * Watch a reviews section; calls onRead() once when it has been at least half visible for `ms`.
 * @returns {() => void} stop function
 */
export function watchReviewReading(win, el, onRead, ms = 5000) {
  if (!el || typeof win.IntersectionObserver !== 'function') return () => {};
  let timer = null;
  let done = false;
  const obs = new win.IntersectionObserver((entries) => {
    for (const e of entries) {
      if (done) return;
      if (e.isIntersecting && e.intersectionRatio >= 0.25) {
        if (!timer) timer = win.setTimeout(() => { done = true; obs.disconnect(); onRead(); }, ms);
      } else if (timer) { win.clearTimeout(timer); timer = null; }
    }
  }, { threshold: [0, 0.25, 0.5] });
  obs.observe(el);
  return () => { obs.disconnect(); if (timer) win.clearTimeout(timer); };
}
