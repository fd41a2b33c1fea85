import { describe, it, expect } from 'vitest';
import { fromHtml, loadPage } from './helpers/dom.js';
import { installActionListeners } from '../src/capture/actions.js';
import { classifyControl } from '../src/capture/patterns.js';
import { createEngagementTracker } from '../src/capture/engagement.js';

function clickOn(win, el) { el.dispatchEvent(new win.MouseEvent('click', { bubbles: true, cancelable: true })); }

describe('click gestures', () => {
  it.each([
    ['<button>Add to Cart</button>', 'cart_add'],
    ['<button class="btn"><span>In den Warenkorb</span></button>', 'cart_add'],
    ['<input type="submit" value="Ajouter au panier">', 'cart_add'],
    ['<button aria-label="Añadir al carrito"><svg></svg></button>', 'cart_add'],
    ['<a role="button" href="#">Dodaj do koszyka</a>', 'cart_add'],
    ['<button>カートに入れる</button>', 'cart_add'],
    ['<button class="wishlist-toggle" aria-label="Auf den Merkzettel">♡</button>', 'wishlist_add'],
    ['<button>Lista de deseos</button>', 'wishlist_add'],
    ['<a href="https://www.facebook.com/sharer/sharer.php?u=x">f</a>', 'share'],
    ['<button>Write a review</button>', 'review_write'],
    ['<button>Newsletter</button>', null],
    ['<a href="/cart">Cart (2)</a>', null],
  ])('%s -> %s', (html, kind) => {
    const { doc } = fromHtml(`<body>${html}</body>`);
    expect(classifyControl(doc.body.firstElementChild)).toBe(kind);
  });

  it('reports one gesture per click, from nested targets, and from add-to-cart form submits', () => {
    const { doc, window } = loadPage('shop-jsonld-graph-de.html');
    let t = 0;
    const seen = [];
    installActionListeners(doc, (k) => seen.push(k), { now: () => t });
    const button = doc.querySelector('form button');
    clickOn(window, button);
    button.form.dispatchEvent(new window.Event('submit', { bubbles: true, cancelable: true }));
    expect(seen).toEqual(['cart_add']); // click and submit of the same action count once
    t += 5000;
    clickOn(window, doc.querySelector('.wishlist-toggle'));
    expect(seen).toEqual(['cart_add', 'wishlist_add']);
    t += 5000;
    clickOn(window, doc.querySelector('h1'));
    expect(seen).toHaveLength(2);
  });

  it('on a cart page, "remove" buttons mean cart_remove', () => {
    const { doc, window } = loadPage('cart-it.html', 'https://libri.example/carrello');
    const seen = [];
    installActionListeners(doc, (k) => seen.push(k), { onCartPage: () => true });
    clickOn(window, doc.querySelector('.remove-item'));
    expect(seen).toEqual(['cart_remove']);
  });

  it('stops listening when removed', () => {
    const { doc, window } = fromHtml('<body><button>Add to cart</button></body>');
    const seen = [];
    const off = installActionListeners(doc, (k) => seen.push(k));
    off();
    clickOn(window, doc.querySelector('button'));
    expect(seen).toEqual([]);
  });
});

describe('engagement', () => {
  it('counts visible time only and the deepest scroll', () => {
    const { doc, window } = fromHtml('<body><div style="height:4000px"></div></body>');
    let now = 0;
    let visibility = 'visible';
    Object.defineProperty(doc, 'visibilityState', { get: () => visibility });
    Object.defineProperty(doc.documentElement, 'scrollHeight', { value: 4000, configurable: true });
    Object.defineProperty(window, 'innerHeight', { value: 1000, configurable: true });
    const tr = createEngagementTracker(window, doc, () => now);
    now = 10_000;
    visibility = 'hidden'; doc.dispatchEvent(new window.Event('visibilitychange'));
    now = 50_000;
    visibility = 'visible'; doc.dispatchEvent(new window.Event('visibilitychange'));
    now = 55_000;
    Object.defineProperty(window, 'scrollY', { value: 2000, configurable: true });
    expect(tr.snapshot()).toEqual({ dwell_ms: 15_000, scroll: 0.75 });
    Object.defineProperty(window, 'scrollY', { value: 0, configurable: true });
    expect(tr.snapshot().scroll).toBe(0.75);
    tr.stop();
  });
});
