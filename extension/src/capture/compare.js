/** Content-script extractor: comparison pages (URL patterns, or a comparison table of products). */
import { queryPairs } from './search.js';
import { urlPath } from './urlpath.js';

export const COMPARE_PATH = /(^|\/|-)(compare|comparison|vergleich|vergleichen|produktvergleich|comparer|comparateur|comparatif|comparar|comparador|comparativa|confronta|confronto|vergelijk|vergelijken|porownaj|porównaj|porownanie|porovnat|porovnanie|porovnání|jamfor|jämför|sammenlign|vertaa|vertailu|karsilastir|karşılaştır|sravnenie|сравнение|compara)(\/|\.|$|-|\?)/; // lower-cased path, no i flag

/** A comparison URL (path words or a compare parameter). */
export function isCompareUrl(url) {
  let u;
  try { u = new URL(url); } catch { return false; }
  if (COMPARE_PATH.test(urlPath(u))) return true;
  for (const [k] of queryPairs(u.search)) if (/^(compare|comparison|vergleich|products_compare)$/i.test(k)) return true;
  return false;
}

/**
 * True for a product comparison page: a comparison URL, or a comparison table on the page. Controls
 * ("add to compare" buttons, links, forms) are not a comparison: a product page offers them.
 */
export function detectCompare(doc, url) {
  if (isCompareUrl(url)) return true;
  for (const el of doc.querySelectorAll('[class*=compare-table i], [class*=comparison-table i], [id*=compare-table i], [data-testid*=compare i]')) {
    if (!el.closest('button, a, form, label, input, [role=button]') && !el.matches('input, select')) return true;
  }
  return false;
}
