/** Multilingual control patterns (src/config/action-patterns.json) and a matcher for DOM controls. */
import patterns from '../config/action-patterns.json' with { type: 'json' };

export const ACTION_PATTERNS = patterns;

function norm(s) {
  return String(s || '').toLowerCase().replace(/[\s\u00a0]+/g, ' ').trim();
}

/** Everything a control says about itself, lower-cased (label, aria, value, id, class, name). */
export function controlSignature(el) {
  if (!el || el.nodeType !== 1) return '';
  const parts = [
    el.getAttribute('aria-label'), el.getAttribute('title'), el.getAttribute('value'), el.id,
    typeof el.className === 'string' ? el.className : '', el.getAttribute('name'), el.getAttribute('data-action'),
    el.getAttribute('data-testid'), el.getAttribute('href'), el.getAttribute('formaction'),
    el.children.length <= 6 ? (el.textContent || '').slice(0, 120) : '',
  ];
  return norm(parts.filter(Boolean).join(' | ')).slice(0, 600);
}

/** Short patterns must match as whole words; longer ones may match inside ids/classes. Compiled once. */
const COMPILED = {};
function compiled(kind) {
  if (!COMPILED[kind]) {
    COMPILED[kind] = (patterns[kind] || []).map((raw) => {
      const pat = norm(raw);
      if (pat.length <= 6 && /^[\p{L} ]+$/u.test(pat)) {
        const re = new RegExp(`(^|[^\\p{L}])${pat.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}($|[^\\p{L}])`, 'u');
        return (sig) => re.test(sig);
      }
      return (sig) => sig.includes(pat);
    });
  }
  return COMPILED[kind];
}

/** Which action ("cart_add", "wishlist_add", ...) a control's signature matches, or null. */
export function classifyControl(el, kinds = ['wishlist_add', 'cart_add', 'cart_remove', 'review_write', 'share', 'checkout']) {
  const sig = controlSignature(el);
  if (!sig) return null;
  for (const kind of kinds) {
    for (const test of compiled(kind)) if (test(sig)) return kind;
  }
  return null;
}

/** The nearest clickable ancestor (button, link, submit input, role=button) of an event target. */
export function clickableFrom(target) {
  for (let n = target; n && n.nodeType === 1; n = n.parentElement) {
    const tag = n.tagName.toLowerCase();
    if (tag === 'button' || tag === 'a' || (tag === 'input' && /^(submit|button|image)$/i.test(n.getAttribute('type') || ''))
      || n.getAttribute('role') === 'button') return n;
  }
  return null;
}

/** A link to another site ("Buy now at Shop X" in an article) is not this page's own cart control. */
function offSite(a, doc) {
  const href = a.getAttribute('href') || '';
  if (!/^(https?:)?\/\//i.test(href)) return false;
  try {
    const here = (doc.location && doc.location.hostname) || '';
    const there = new URL(href, doc.baseURI).hostname;
    const site = (h) => {
      const parts = h.toLowerCase().split('.');
      const n = parts.length >= 3 && parts.at(-1).length === 2 && /^(co|com|net|org|gov|ac|edu|ne|or)$/.test(parts.at(-2)) ? 3 : 2;
      return parts.slice(-n).join('.');
    };
    return !!here && site(there) !== site(here);
  } catch { return false; }
}

/** Number of add-to-cart style controls on the page (one to a few on a product page, many on a listing). */
export function countCartControls(doc) {
  return countControls(doc).cart;
}

/**
 * Which item a cart control adds: controls for the same item (a desktop and a mobile button, a deal's
 * option buttons carrying one id) count once, so a product page is not mistaken for a listing.
 */
function itemKey(el, i) {
  const key = el.getAttribute('data-id') || el.getAttribute('data-product-id') || el.getAttribute('data-product')
    || el.getAttribute('data-sku') || el.getAttribute('data-item-id');
  if (key) return `id:${key}`;
  const href = el.getAttribute('href') || '';
  if (href && !href.startsWith('#') && !/^javascript:/i.test(href)) return `href:${href}`;
  return `el:${i}`;
}

/** Page chrome: a cart link in the site header or navigation opens the cart, it adds nothing. */
function inChrome(el) {
  if (el.closest('nav, [role=navigation], [role=banner]')) return true;
  const header = el.closest('header, #header, .header, [class*=site-header i]');
  if (header && !header.closest('main, article, [itemscope]')) return true;
  return /(^|[\s_-])header([\s_-]|$)/i.test(typeof el.className === 'string' ? el.className : '');
}

/** Add-to-cart and wishlist controls on the page, counted in one pass. */
export function countControls(doc) {
  let n = 0;
  const buttons = [];
  const items = new Set();
  let wishlist = 0;
  for (const el of doc.querySelectorAll('button, input[type=submit], input[type=button], input[type=image], a, [role=button]')) {
    if (++n > 5000) break;
    if (el.tagName === 'A' && (el.children.length > 6 || offSite(el, doc))) continue;
    const kind = classifyControl(el, ['cart_add', 'wishlist_add']);
    if (kind === 'cart_add') {
      if (inChrome(el)) continue;
      buttons.push(el);
      items.add(itemKey(el, n));
    } else if (kind === 'wishlist_add' && !el.closest('nav, header, footer, [role=navigation], [role=menu], [id*=nav i]')) wishlist++;
  }
  let forms = 0;
  for (const form of doc.querySelectorAll('form[action]')) {
    if (!/(cart|basket|warenkorb|panier|carrito|carrello|koszyk)[/_-]?(add|insert)|add[/_-]?(to[/_-]?)?(cart|basket)/i.test(form.getAttribute('action') || '')) continue;
    if (!buttons.some((b) => form.contains(b))) forms++;
  }
  return { cart: items.size + Math.min(forms, 1), wishlist };
}
