/**
 * Data minimisation: a URL becomes origin + path template. Ids, numbers, hashes, long tokens and
 * slugs (which often carry product names or personal data) become "{id}"; the query string and
 * fragment are dropped. Only short, word-like segments ("/p/", "/checkout/", "/en-gb/") survive.
 */

const ID = '{id}';

/** True when a path segment must not be kept verbatim. */
export function isIdSegment(seg) {
  let s;
  try { s = decodeURIComponent(seg); } catch { s = seg; }
  if (!s) return false;
  if (s.length > 24) return true;
  if (/\d/.test(s)) {
    // Keep well-known short numeric-ish markers like "v2", "3d", "4k", "en-gb" has no digits.
    return !/^(v\d|\d[dk]|mp3|mp4|h264|p2p|b2b|b2c)$/i.test(s);
  }
  if (/[^\p{L}\p{N}._~-]/u.test(s)) return true; // spaces, @, +, =, ...: user data, not structure
  if ((s.match(/-/g) || []).length >= 3) return true; // long slugs ("google-nest-mini-hands-free")
  if (/^[A-Za-z0-9_-]{16,}$/.test(s) && /[A-Z]/.test(s) && /[a-z]/.test(s)) return true; // tokens
  if (/^[0-9a-f]{8,}$/i.test(s)) return true;
  return false;
}

/**
 * "/p/kaercher-hochdruckreiniger-848068924/?x=1#v" -> "/p/{id}/". Keeps a trailing slash and
 * file extensions of templated segments are dropped.
 */
export function pathTemplate(pathname) {
  const raw = String(pathname || '/').split(/[?#]/)[0] || '/';
  const segs = raw.split('/');
  const out = segs.map((seg, i) => {
    if (i === 0 || seg === '') return seg;
    const ext = seg.match(/^(.*?)(\.(?:html?|php|aspx?|jsp|cfm))$/i);
    const base = ext ? ext[1] : seg;
    if (isIdSegment(base)) return ID;
    return ext ? `${base.toLowerCase()}${ext[2].toLowerCase()}` : base.toLowerCase();
  });
  let path = out.join('/');
  if (!path.startsWith('/')) path = `/${path}`;
  // Collapse runs of ids ("/{id}/{id}/{id}") to keep depth information coarse.
  return path.replace(/(\/\{id\}){2,}/g, '/{id}/{id}').slice(0, 200);
}

/** {origin, path} for an http(s) URL, or null for anything else (file:, chrome:, about:, data:). */
export function minimiseUrl(url) {
  let u;
  try { u = new URL(url); } catch { return null; }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') return null;
  return { origin: u.origin, path: pathTemplate(u.pathname) };
}

/** Hostname of an origin or URL, lower case, without "www.". */
export function hostOf(url) {
  try { return new URL(url).hostname.toLowerCase().replace(/^www\./, ''); } catch { return ''; }
}

/** True when host equals a never-record entry or is a subdomain of it. */
export function hostMatches(host, entry) {
  const h = String(host || '').toLowerCase().replace(/^www\./, '');
  const e = String(entry || '').toLowerCase().trim().replace(/^\*\./, '').replace(/^https?:\/\//, '').replace(/^www\./, '').replace(/\/.*$/, '');
  if (!h || !e) return false;
  return h === e || h.endsWith(`.${e}`);
}
