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

/** The locale a URL names: a "xx-yy" host label ("ar-sa.shop.com") or path segment ("/en-ca/", "/fr_BE/"). */
export function urlLocale(url) {
  let u;
  try { u = new URL(url); } catch { return ''; }
  const re = /^([a-z]{2})[-_]([a-z]{2})$/i;
  for (const part of [u.hostname.split('.')[0], ...u.pathname.split('/').slice(1, 3)]) {
    const m = part.match(re);
    if (m) return `${m[1].toLowerCase()}-${m[2].toUpperCase()}`;
  }
  return '';
}

const samePage = (a, b) => {
  try {
    const x = new URL(a, b);
    const y = new URL(b);
    return x.host === y.host && x.pathname.replace(/\/$/, '') === y.pathname.replace(/\/$/, '');
  } catch { return false; }
};

/** The hreflang of the alternate link that is this very page (a page lists its translations and itself). */
function ownHreflang(doc, url) {
  if (!url) return '';
  let n = 0;
  for (const l of doc.querySelectorAll('link[rel~=alternate][hreflang]')) {
    if (++n > 300) break;
    const lang = l.getAttribute('hreflang') || '';
    if (/^x-default$/i.test(lang)) continue;
    if (samePage(l.getAttribute('href') || '', url)) return lang;
  }
  return '';
}

/** Page context used to disambiguate currencies and number formats. */
export function pageContext(doc, url) {
  let host = '';
  const href = url || doc.location?.href || '';
  try { host = new URL(href).hostname; } catch { host = ''; }
  const html = doc.documentElement;
  const lang = (html && (html.getAttribute('lang') || html.getAttribute('xml:lang'))) || meta(doc, 'language')
    || meta(doc, 'content-language') || '';
  return { host, lang, ogLocale: meta(doc, 'og:locale') || '', urlLocale: urlLocale(href), hreflang: ownHreflang(doc, href) };
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
