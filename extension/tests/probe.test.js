import { describe, it, expect } from 'vitest';
import { shoppingReason } from '../src/capture/shopping-url.js';
import { fromHtml, loadPage } from './helpers/dom.js';

const reason = (html, url = 'https://www.example.com/some/page') => shoppingReason(fromHtml(html, url).doc, url);
const ARTICLE_HEAD = '<meta property="og:type" content="article"><meta property="article:published_time" content="2026-01-02">';
const PROSE = '<p>The council met on Tuesday to discuss the budget, which rose by $12.9bn over five years according to the report.</p>';

describe('first look: does a page look like shopping?', () => {
  it.each([
    ['shop-jsonld-array-en.html'], ['shop-jsonld-graph-de.html'], ['shop-microdata-pl.html'], ['shop-microdata-textprice-at.html'],
    ['shop-nomarkup-sv.html'], ['shop-opengraph-fr.html'], ['shop-shopify-variants-en.html'], ['shop-woocommerce-yoast-es.html'],
    ['listing-category.html'], ['cart-it.html'], ['compare-de.html'],
  ])('loads the analyser for the shop page %s', (name) => {
    const { doc, url } = loadPage(name);
    expect(shoppingReason(doc, url)).toBeTruthy();
  });
  it('recognises shopping URLs before reading the page (search, cart, checkout, order confirmation)', () => {
    expect(reason('<h1>x</h1>', 'https://www.google.com/search?q=oled+tv')).toBe('search-url');
    expect(reason('<h1>x</h1>', 'https://shop.example/warenkorb')).toBe('order-url');
    expect(reason('<h1>x</h1>', 'https://shop.example/checkout/payment')).toBe('order-url');
    expect(reason('<h1>x</h1>', 'https://shop.example/order-confirmation')).toBe('order-url');
  });
  it('offers in JSON-LD, microdata or OpenGraph are enough', () => {
    expect(reason('<script type="application/ld+json">{"@type":"Product","name":"Kettle","offers":{"price":"20"}}</script>')).toBe('offer-markup');
    expect(reason('<div itemscope itemtype="https://schema.org/Product"><span itemprop="price">9</span></div>')).toBe('offer-markup');
    expect(reason('<meta property="og:type" content="product">')).toBe('og-product');
  });
  it('a news article that is "part of" a subscription Product is not shopping', () => {
    const ld = '<script type="application/ld+json">{"@type":"NewsArticle","headline":"x","isPartOf":{"@type":"Product","name":"The Paper"}}</script>';
    expect(reason(`<head>${ld}</head><body><article><h1>Budget</h1>${PROSE}</article></body>`)).toBeNull();
    expect(reason(`<head>${ARTICLE_HEAD}</head><body><span itemprop="isPartOf" itemscope itemtype="http://schema.org/CreativeWork http://schema.org/Product"></span><h1>Budget</h1>${PROSE}</body>`)).toBeNull();
  });
  it('a product page with article meta next to its Product still loads the analyser', () => {
    const ld = '<script type="application/ld+json">{"@type":"Product","name":"Sofa","offers":{"@type":"Offer","price":"499"}}</script>';
    expect(reason(`<head>${ARTICLE_HEAD}${ld}</head><body><h1>Sofa</h1></body>`)).toBe('offer-markup');
  });
  it('pages without markup: a price attribute, a price element, a cart control, or a bare price after the heading', () => {
    expect(reason('<h1>Phone</h1><span price="44890">44 890</span>')).toBe('price-element');
    expect(reason('<h1>Phone</h1><div class="product-preis">12,99</div>')).toBe('price-element');
    expect(reason('<h1>Phone</h1><button>In den Warenkorb</button>')).toBe('cart-control');
    expect(reason('<h1>Смартфон</h1><div><b>44 890 тг.</b></div>')).toBe('price-near-heading');
    expect(reason('<h1>手机</h1><p><span>1299元</span></p>')).toBe('price-near-heading');
    expect(reason('<h1>휴대폰</h1><td>45,000원</td>')).toBe('price-near-heading');
  });
  it('ordinary articles and pages are left alone, even when their prose mentions money', () => {
    expect(reason(`<head>${ARTICLE_HEAD}</head><body><article><h1>Budget</h1>${PROSE}</article></body>`)).toBeNull();
    const news = loadPage('article-news.html', 'https://news.example/2026/01/budget');
    expect(shoppingReason(news.doc, news.url)).toBeNull();
    expect(reason('<h1>Contact us</h1><p>Write to us any time.</p><button>Send</button>')).toBeNull();
  });
});
