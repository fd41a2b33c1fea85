/** Content-script extractor: comparison pages (URL patterns, or a comparison table of products). */

export const COMPARE_PATH = /(^|\/|-)(compare|comparison|vergleich|vergleichen|produktvergleich|comparer|comparateur|comparatif|comparar|comparador|comparativa|confronta|confronto|vergelijk|vergelijken|porownaj|porównaj|porownanie|porovnat|porovnanie|porovnání|jamfor|jämför|sammenlign|vertaa|vertailu|karsilastir|karşılaştır|sravnenie|сравнение|compara)(\/|\.|$|-|\?)/i;

/** True for a product comparison page. */
export function detectCompare(doc, url) {
  let u;
  try { u = new URL(url); } catch { return false; }
  if (COMPARE_PATH.test(u.pathname)) return true;
  for (const k of u.searchParams.keys()) if (/^(compare|comparison|vergleich|products_compare)$/i.test(k)) return true;
  const table = doc.querySelector('[class*=compare-table i], [class*=comparison-table i], [id*=compare-table i], [data-testid*=compare i]');
  return !!table;
}
