import { describe, it, expect } from 'vitest';
import { loadPage, fromHtml } from './helpers/dom.js';
import { analysePage } from '../src/capture/page.js';
import { isCartUrl, readTotal } from '../src/capture/cart.js';
import { isCheckoutUrl } from '../src/capture/checkout.js';
import { isPurchaseUrl } from '../src/capture/purchase.js';
import { isReviewUrl } from '../src/capture/review.js';
import { isCompareUrl } from '../src/capture/compare.js';
import { shoppingUrl } from '../src/capture/shopping-url.js';

describe('page analysis', () => {
  it('search result page -> search with the term only', () => {
    const url = 'https://tienda.example/buscar?q=zapatillas+running&sessionid=abc';
    const { doc } = loadPage('search-results-es.html', url);
    expect(analysePage(doc, url)).toMatchObject({ kind: 'search', observations: [{ type: 'search', query: 'zapatillas running', engine: 'shop' }] });
  });
  it('product page -> product_view with product fields', () => {
    const url = 'https://agd.example/ekspres-kafeo-2000.html';
    const { doc } = loadPage('shop-microdata-pl.html', url);
    const r = analysePage(doc, url);
    expect(r.kind).toBe('product');
    expect(r.observations).toEqual([{ type: 'product_view', product: expect.objectContaining({ price: 1299.99, currency: 'PLN' }), breadcrumbs: [] }]);
  });
  it('product reviews URL adds review_read', () => {
    const url = 'https://werkzeug.example/p/bosch-gsr-12v-35-06019h8000/reviews';
    const { doc } = loadPage('shop-jsonld-graph-de.html', url);
    expect(analysePage(doc, url).observations.map((o) => o.type)).toEqual(['product_view', 'review_read']);
  });
  it('cart page -> page_view with the cart total, no item names', () => {
    const url = 'https://libri.example/carrello';
    const { doc } = loadPage('cart-it.html', url);
    const r = analysePage(doc, url);
    expect(r.kind).toBe('cart');
    expect(r.observations).toEqual([{ type: 'page_view', cart: true, value: 33.8 }]);
    expect(JSON.stringify(r)).not.toContain('Puzzle');
  });
  it('checkout page -> checkout_start with the order total and no form values', () => {
    const url = 'https://winkel.example/afrekenen/adres';
    const { doc } = loadPage('checkout-nl.html', url);
    const r = analysePage(doc, url);
    expect(r.observations).toEqual([{ type: 'checkout_start', value: 1234.5 }]);
    expect(JSON.stringify(r)).not.toMatch(/Jansen|jan@/);
  });
  it('order confirmation -> purchase with the order value from JSON-LD Order, no order number', () => {
    const url = 'https://homestore.example/checkout/success';
    const { doc } = loadPage('order-confirmation-en.html', url);
    const r = analysePage(doc, url);
    expect(r.observations).toEqual([{ type: 'purchase', value: 499.99 }]);
    expect(JSON.stringify(r)).not.toMatch(/GB-778812|Jane|Example Road/);
  });
  it('schema.org Order alone marks a purchase even on an unknown URL', () => {
    const url = 'https://homestore.example/account/o/7';
    const { doc } = loadPage('order-confirmation-en.html', url);
    expect(analysePage(doc, url).kind).toBe('purchase');
  });
  it('compare page -> compare', () => {
    const url = 'https://tv.example/produktvergleich';
    const { doc } = loadPage('compare-de.html', url);
    expect(analysePage(doc, url).observations).toEqual([{ type: 'compare', breadcrumbs: [] }]);
  });
  it('articles yield nothing', () => {
    const url = 'https://ledger.example/2026/11/20/retail';
    const { doc } = loadPage('article-news.html', url);
    expect(analysePage(doc, url)).toMatchObject({ kind: 'article', observations: [] });
  });
  it('a category listing -> page_view carrying its heading for local classification only', () => {
    const url = 'https://soundshop.example/c/headphones';
    const { doc } = loadPage('listing-category.html', url);
    expect(analysePage(doc, url)).toMatchObject({ kind: 'listing', observations: [{ type: 'page_view', label: 'Headphones' }] });
  });
  it('a product page on a price comparison site -> price_check', () => {
    const url = 'https://www.idealo.example.de/preisvergleich/OffersOfProduct/123_-bosch-gsr.html'.replace('.example', '');
    const { doc } = loadPage('shop-jsonld-graph-de.html', url);
    expect(analysePage(doc, url)).toMatchObject({ kind: 'price_check', observations: [{ type: 'price_check', product: { price: 1234.56 } }] });
    const home = 'https://www.idealo.de/';
    expect(analysePage(loadPage('shop-jsonld-graph-de.html', home).doc, home).kind).toBe('product');
  });
  it('ordinary pages yield nothing', () => {
    const { doc } = fromHtml('<html><body><h1>Contact</h1></body></html>', 'https://shop.example/contact');
    expect(analysePage(doc, 'https://shop.example/contact').observations).toEqual([]);
  });
});

describe('URL patterns', () => {
  it.each(['https://a.example/cart', 'https://a.example/warenkorb/', 'https://a.example/panier', 'https://a.example/carrito',
    'https://a.example/koszyk', 'https://a.example/checkout/cart/', 'https://a.example/basket.html'])('cart: %s', (u) => {
    expect(isCartUrl(u)).toBe(true);
  });
  it.each(['https://a.example/cartier-watch', 'https://a.example/p/cart-123'])('not cart: %s', (u) => {
    expect(isCartUrl(u)).toBe(false);
  });
  it.each(['https://a.example/checkout', 'https://a.example/checkout/shipping', 'https://a.example/kasse', 'https://a.example/commande/livraison', 'https://a.example/afrekenen'])('checkout: %s', (u) => {
    expect(isCheckoutUrl(u)).toBe(true);
  });
  it('non-ASCII path words match the percent-encoded path a browser reports', () => {
    // new URL() percent-encodes these letters; the patterns read the decoded, lower-cased path
    expect(isCartUrl('https://shop.example/корзина/')).toBe(true);
    expect(isCartUrl('https://shop.example/%D0%9A%D0%BE%D1%80%D0%B7%D0%B8%D0%BD%D0%B0')).toBe(true); // Корзина
    expect(isCartUrl('https://shop.example/košík')).toBe(true);
    expect(isCheckoutUrl('https://shop.example/ödeme/adres')).toBe(true);
    expect(isCheckoutUrl('https://shop.example/objednávka')).toBe(true);
    expect(isReviewUrl('https://shop.example/p/123/отзывы')).toBe(true);
    expect(isCompareUrl('https://shop.example/jämför')).toBe(true);
    expect(shoppingUrl('https://shop.example/karşılaştır/1-2')).toBe('compare-or-review-url');
    expect(isCartUrl('https://shop.example/%E0%A4%zz/cart')).toBe(true); // a malformed escape keeps the encoded path
    expect(isCartUrl('https://news.example/корзина-новостей-за-неделю')).toBe(false);
  });
  it('a checkout success page is a purchase, not a checkout start', () => {
    expect(isCheckoutUrl('https://a.example/checkout/success')).toBe(false);
    expect(isPurchaseUrl('https://a.example/checkout/success')).toBe(true);
    expect(isPurchaseUrl('https://a.example/checkout/onepage/success/')).toBe(true);
    expect(isPurchaseUrl('https://a.example/bestellbestaetigung')).toBe(true);
  });
  it('reviews', () => {
    expect(isReviewUrl('https://a.example/product-reviews/B07')).toBe(true);
    expect(isReviewUrl('https://a.example/p/tv#reviews')).toBe(true);
    expect(isReviewUrl('https://a.example/p/tv')).toBe(false);
  });
  it('cart totals prefer the grand total', () => {
    const { doc } = fromHtml('<div class="subtotal">10,00 €</div><div class="order-total">12,50 €</div>');
    expect(readTotal(doc)).toBe(12.5);
  });
});
