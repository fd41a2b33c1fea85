/**
 * The path of a URL as the URL patterns read it: percent-decoded and lower-cased. `new URL()` percent-encodes
 * every non-ASCII letter of a path, so without decoding a pattern word such as "корзина", "košík" or "jämför"
 * would never match the address a person actually visits. A malformed escape keeps the encoded path.
 */
export function urlPath(u) {
  let path = u.pathname;
  try { path = decodeURIComponent(path); } catch { /* keep it encoded */ }
  return path.toLowerCase();
}
