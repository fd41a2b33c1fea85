/** Small DOM helpers shared by the extractors (no page text ever leaves these functions). */

/** Collapse whitespace and cap length. */
export function clean(text, max = 300) {
  if (text === null || text === undefined) return '';
  return String(text).replace(/[\u0000-\u001f\u007f]/g, ' ').replace(/\s+/g, ' ').trim().slice(0, max);
}

/** Meta tag content by property or name (case-insensitive key). */
export function meta(doc, key) {
  const k = key.toLowerCase();
  for (const el of doc.querySelectorAll('meta[property], meta[name], meta[itemprop]')) {
    const p = (el.getAttribute('property') || el.getAttribute('name') || el.getAttribute('itemprop') || '').toLowerCase();
    if (p === k) {
      const c = el.getAttribute('content');
      if (c !== null && c.trim() !== '') return c.trim();
    }
  }
  return null;
}

/** Page context used to disambiguate currencies and number formats. */
export function pageContext(doc, url) {
  let host = '';
  try { host = new URL(url || doc.location?.href || '').hostname; } catch { host = ''; }
  const html = doc.documentElement;
  const lang = (html && (html.getAttribute('lang') || html.getAttribute('xml:lang'))) || meta(doc, 'language')
    || meta(doc, 'content-language') || '';
  return { host, lang, ogLocale: meta(doc, 'og:locale') || '' };
}

/** True when el sits inside page chrome or an ad/aside box rather than the main content. */
export function inPeripheral(el) {
  for (let n = el; n && n.nodeType === 1; n = n.parentElement) {
    const tag = n.tagName.toLowerCase();
    if (tag === 'aside' || tag === 'footer' || tag === 'nav') return true;
    const idc = `${n.id || ''} ${typeof n.className === 'string' ? n.className : ''}`.toLowerCase();
    if (/(^|[\s_-])(ad|ads|advert\w*|sponsor\w*|promo-box|recommend\w*|related\w*|carousel\w*|upsell\w*|cross-?sell\w*|also-?bought|similar\w*|recently-?viewed|reco|recs)([\s_-]|$)/.test(idc)) return true;
    if (n.getAttribute && n.getAttribute('role') === 'complementary') return true;
  }
  return false;
}
