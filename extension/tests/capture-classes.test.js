/**
 * Issue 15's classes of capture defects on real pages, each with small synthetic pages (no real page copied):
 * the rule is tested, not a page.
 */
import { describe, it, expect } from 'vitest';
import { analysePage } from '../src/capture/page.js';
import { detectProduct } from '../src/capture/product.js';
import { isPurchaseUrl } from '../src/capture/purchase.js';
import { symbolToIso } from '../src/capture/currency.js';
import { fromHtml } from './helpers/dom.js';

const page = (html, url) => analysePage(fromHtml(html, url).doc, url);
const NEWS_HEAD = '<meta property="og:type" content="article"><meta property="article:published_time" content="2026-03-01T08:00:00Z">';
const PROSE = '<p>' + 'The market moved again this week as analysts weighed the figures. '.repeat(30) + '</p>';
const ldProduct = (extra = '') => `<script type="application/ld+json">{"@context":"https://schema.org","@type":"Product","name":"Oak sideboard","brand":{"@type":"Brand","name":"Nordwood"},"offers":{"@type":"Offer","price":"499.00","priceCurrency":"EUR"}${extra}}</script>`;

describe('thank-you words in URLs are whole words, and an article is never a purchase', () => {
  it.each([
    'https://news.example/2026/03/commercial-property-prices-fall', // "merci" inside "commercial"
    'https://news.example/sport/thanks-giving-derby-preview', // "thanks" as part of another word
    'https://blog.example/danke-schoen-an-alle-leser', // a thank-you word in prose, no order
    'https://news.example/economy/grazie-ai-turisti-record',
  ])('not an order page: %s', (url) => {
    expect(isPurchaseUrl(url)).toBe(false);
  });
  it.each([
    'https://shop.example/checkout/onepage/success/', 'https://shop.example/merci', 'https://shop.example/danke.html',
    'https://shop.example/thank-you-for-your-order', 'https://shop.example/commande/merci', 'https://shop.example/Order-Confirmation',
    'https://shop.example/#/checkout/thankyou',
  ])('an order page: %s', (url) => {
    expect(isPurchaseUrl(url)).toBe(true);
  });
  it('an article whose URL holds order words records nothing (not a purchase, cart or checkout)', () => {
    for (const url of ['https://news.example/2026/03/thank-you-for-your-order-scams-rise', 'https://news.example/2026/03/cart/checkout-queues-at-stores']) {
      const r = page(`<html><head>${NEWS_HEAD}</head><body><article><h1>Scams</h1><time datetime="2026-03-01">1 March</time>${PROSE}</article></body></html>`, url);
      expect(r.kind).toBe('article');
      expect(r.observations).toEqual([]);
    }
  });
});

describe('a product page with a compare button or compare-table class is a product page', () => {
  const productPage = (controls) => `<html><head>${ldProduct()}</head><body><h1>Oak sideboard</h1>
    <span class="price">499,00 €</span><button class="add-to-cart">Add to cart</button>${controls}</body></html>`;
  it.each([
    ['<button class="btn add-to-compare">Add to compare</button>'],
    ['<a href="/compare/add/12" class="compare-table-link">Compare</a>'],
    ['<form action="/compare"><button data-testid="compare-toggle">Vergleichen</button></form>'],
  ])('with %s', (controls) => {
    const r = page(productPage(controls), 'https://shop.example/p/oak-sideboard-123');
    expect(r.kind).toBe('product');
    expect(r.observations.map((o) => o.type)).toEqual(['product_view']);
  });
  it('a comparison URL or a comparison table of products is still a comparison', () => {
    expect(page(productPage(''), 'https://shop.example/compare?ids=1,2').kind).toBe('compare');
    expect(page('<h1>Compare</h1><table class="compare-table"><tr><th>A</th><th>B</th></tr></table>', 'https://shop.example/tools').kind).toBe('compare');
  });
});

describe('schema.org Product markup outranks article:* meta', () => {
  it('a shop that sets article:author/publisher next to its priced Product is a product page', () => {
    const html = `<html><head><meta property="article:author" content="https://facebook.com/shop"><meta property="article:publisher" content="https://facebook.com/shop">
      ${ldProduct()}</head><body><h1>Oak sideboard</h1><button>Add to cart</button></body></html>`;
    const r = detectProduct(fromHtml(html, 'https://shop.example/p/oak-sideboard-123').doc, 'https://shop.example/p/oak-sideboard-123');
    expect(r.kind).toBe('product');
    expect(r.product).toMatchObject({ price: 499, currency: 'EUR', brand: 'Nordwood' });
  });
  it('but an Article node, or article meta with a product mentioned and nothing to buy, stays an article', () => {
    const review = `<html><head>${NEWS_HEAD}${ldProduct()}</head><body><article><h1>We tried the Oak sideboard</h1><time datetime="2026-03-01">1 March</time>${PROSE}</article></body></html>`;
    expect(page(review, 'https://magazine.example/2026/03/oak-sideboard-review').observations).toEqual([]);
    const node = `<html><head><script type="application/ld+json">[{"@type":"NewsArticle","headline":"x"},{"@type":"Product","name":"Oak","offers":{"price":"1"}}]</script></head><body><h1>x</h1><button>Add to cart</button></body></html>`;
    expect(page(node, 'https://news.example/p/oak-123').kind).toBe('article');
  });
});

describe('pages without any markup: the visible-price fallback, without a recognised cart button', () => {
  it('a price kept in a price="…" attribute next to the heading, with a local currency word', () => {
    const html = `<html lang="kk"><body><div class="crumbs">Главная / Смартфоны</div><div class="card"><h1>Смартфон Nova 12 128 ГБ</h1>
      <div class="product-price" price="44890"><b>44 890</b> тг.</div><img src="buy.png" alt=""></div><p>Характеристики</p></body></html>`;
    const r = page(html, 'https://shop.example.kz/catalog/smartfon-nova-12');
    expect(r.kind).toBe('product');
    expect(r.product).toMatchObject({ price: 44890, currency: 'KZT', name: 'Смартфон Nova 12 128 ГБ' });
  });
  it.each([
    ['1299元', 'CNY', 1299], ['45,000원', 'KRW', 45000], ['12 490 ₸', 'KZT', 12490],
  ])('a price followed by a local currency marker: %s', (text, iso, value) => {
    const html = `<html><body><h1>Wireless earbuds X2</h1><div class="price-box"><span class="price">${text}</span></div><p>In stock.</p></body></html>`;
    const r = page(html, 'https://shop.example/item/earbuds-x2');
    expect(r.kind).toBe('product');
    expect(r.product).toMatchObject({ price: value, currency: iso });
  });
  it('local currency words are whole words', () => {
    expect(symbolToIso('44 890 тг.')).toBe('KZT');
    expect(symbolToIso('отгрузка 3 дня')).toBeNull();
  });
  it('a page of many priced items without markup is not a product page', () => {
    const items = Array.from({ length: 12 }, (_, i) => `<li><a href="/item/${i}">Item ${i}</a><span class="price">${10 + i},00 €</span></li>`).join('');
    const r = page(`<html><body><h1>Earbuds</h1><ul>${items}</ul></body></html>`, 'https://shop.example/category/earbuds');
    expect(r.kind).not.toBe('product');
  });
  it('an article with a price in its prose is not a product page', () => {
    const r = page(`<html><body><article><h1>Budget airlines</h1><p class="byline">By A. Writer</p><time datetime="2026-01-02">2 Jan</time><span class="price">€ 19.99</span>${PROSE}</article></body></html>`, 'https://news.example/2026/01/02/budget-airlines');
    expect(r.observations).toEqual([]);
  });
});

describe('brand from store links and labels, in many shapes and languages', () => {
  it.each([
    ['Visit the Anker Store', 'Anker'], ['Besuchen Sie den Bosch-Store', 'Bosch'], ['Visita lo Store di Philips', 'Philips'],
    ['Visitez la boutique SEB', 'SEB'], ['Marke: Tefal', 'Tefal'], ['Hersteller: Miele', 'Miele'], ['品牌：小米', '小米'],
    ['More from Nordwood', 'Nordwood'], ['Anker Official Store', 'Anker'], ['Brand: 365 by Whole Foods Market', '365 by Whole Foods Market'],
  ])('%s -> %s', async (text, brand) => {
    const { brandName } = await import('../src/capture/product.js');
    expect(brandName(text)).toBe(brand);
  });
  it('a store link on a product page gives the brand; the shop\'s own name or the title never does', () => {
    const html = (brandHtml) => `<html><head><meta property="og:site_name" content="Nordic Home">${ldProduct().replace(',"brand":{"@type":"Brand","name":"Nordwood"}', '')}</head>
      <body><h1>Oak sideboard</h1>${brandHtml}<button>Add to cart</button></body></html>`;
    const url = 'https://www.nordichome.example/p/oak-sideboard-123';
    const brandOf = (h) => detectProduct(fromHtml(html(h), url).doc, url).product.brand;
    expect(brandOf('<a class="brand-link" href="/brands/nordwood">Visit the Nordwood Store</a>')).toBe('Nordwood');
    expect(brandOf('<div class="product-brand">Marke: Nordwood</div>')).toBe('Nordwood');
    expect(brandOf('<div class="brand">Nordic Home</div>')).toBe('');
    expect(brandOf('<div class="brand">nordichome</div>')).toBe('');
    expect(brandOf('<div class="brand">Oak sideboard</div>')).toBe('');
  });
});

describe('cart controls: the site header\'s cart link adds nothing, and one item\'s buttons count once', () => {
  it('a deal page with several option buttons for one item is a product, not a listing', async () => {
    const { countControls } = await import('../src/capture/patterns.js');
    const opts = Array.from({ length: 6 }, (_, i) => `<a href="#" class="buy" data-id="380" data-option="${i}">Add to cart</a>`).join('');
    const { doc } = fromHtml(`<header><a href="/cart">Add to cart</a></header><nav><a href="/cart">Cart</a></nav><h1>Deal</h1>${opts}`, 'https://shop.example/deal-380');
    expect(countControls(doc).cart).toBe(1);
    const items = Array.from({ length: 8 }, (_, i) => `<button data-product-id="${i}">Add to cart</button>`).join('');
    expect(countControls(fromHtml(items).doc).cart).toBe(8);
  });
});
