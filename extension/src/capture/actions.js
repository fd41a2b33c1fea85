/**
 * Content-script extractor: clicks on add-to-cart, wishlist, remove-from-cart, review and share
 * controls and submits of matching forms, recognised by the generic multilingual patterns in
 * src/config/action-patterns.json. Only the kind of action is reported, never labels or values.
 */
import { classifyControl, clickableFrom } from './patterns.js';

const FORM_ACTIONS = [
  ['cart_add', /(cart|basket|warenkorb|panier|carrito|carrello|koszyk|bag)[/_-]?(add|insert)|add[/_-]?(to[/_-]?)?(cart|basket|bag)/i],
  ['wishlist_add', /wish-?list|merkzettel|wunschliste|favorit/i],
  ['review_write', /review|bewertung|rezension|avis|opinion|recensione/i],
  ['cart_remove', /(cart|basket)[/_-]?(remove|delete)|remove[/_-]?(from[/_-]?)?(cart|basket)/i],
];

/**
 * @param {Document} doc
 * @param {(kind: string) => void} onAction
 * @param {{onCartPage?: () => boolean, now?: () => number}} [opts]
 * @returns {() => void} remove listeners
 */
export function installActionListeners(doc, onAction, { onCartPage = () => false, now = () => Date.now() } = {}) {
  const last = new Map();
  const emit = (kind) => {
    const t = now();
    if (last.has(kind) && t - last.get(kind) < 1500) return; // one click, one gesture
    last.set(kind, t);
    onAction(kind);
  };
  const onClick = (e) => {
    const el = clickableFrom(e.target);
    if (!el) return;
    const kinds = onCartPage() ? ['cart_remove', 'wishlist_add', 'share'] : ['wishlist_add', 'cart_add', 'review_write', 'share'];
    const kind = classifyControl(el, kinds);
    if (kind) emit(kind);
  };
  const onSubmit = (e) => {
    const form = e.target;
    if (!form || form.tagName !== 'FORM') return;
    const sig = `${form.getAttribute('action') || ''} ${form.id || ''} ${typeof form.className === 'string' ? form.className : ''}`;
    for (const [kind, re] of FORM_ACTIONS) if (re.test(sig)) { emit(kind); return; }
  };
  doc.addEventListener('click', onClick, true);
  doc.addEventListener('submit', onSubmit, true);
  return () => { doc.removeEventListener('click', onClick, true); doc.removeEventListener('submit', onSubmit, true); };
}
