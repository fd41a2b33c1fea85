import { describe, it, expect } from 'vitest';
import { loadPage, fromHtml } from './helpers/dom.js';
import { detectProduct } from '../src/capture/product.js';

describe('product pages', () => {
  it.each([
    ['shop-jsonld-graph-de.html', 'https://werkzeug.example/p/bosch-gsr-12v-35-06019h8000',
      { name: 'Bosch Professional Akku-Bohrschrauber GSR 12V-35', brand: 'Bosch Professional', price: 1234.56, currency: 'EUR', sku: '06019H8000' }],
    ['shop-jsonld-array-en.html', 'https://homestore.example/gb/en/p/hallby-table-00293772/',
      { name: 'Hallby oak dining table, 180 cm', brand: 'HomeStore', price: 450, currency: 'GBP' }],
    ['shop-opengraph-fr.html', 'https://horloger.example/produit/montre-sportif-3-48213',
      { name: 'Montre connectée Sportif 3', brand: 'Horloger', price: 259, currency: 'EUR', sku: 'HS-48213' }],
    ['shop-microdata-pl.html', 'https://agd.example/ekspres-kafeo-2000',
      { name: 'Ekspres do kawy Kafeo 2000', brand: 'Kafeo', price: 1299.99, currency: 'PLN', sku: 'KF-2000-B' }],
    ['shop-microdata-textprice-at.html', 'https://shop.example.at/p/k3-848068924',
      { brand: 'KÄRCHER', price: 119.01, currency: 'EUR' }],
    ['shop-woocommerce-yoast-es.html', 'https://cocina.example/producto/cafetera-italiana-6/',
      { name: 'Cafetera italiana 6 tazas', brand: 'Oroley', price: 24.95, currency: 'EUR', sku: 'CAF-6' }],
    ['shop-shopify-variants-en.html', 'https://northknits.example/products/merino-crew-sweater',
      { name: 'Merino Crew Sweater - S / Navy', brand: 'North Knits', price: 129, currency: 'CAD', sku: 'MCS-S-NAV' }],
    ['shop-nomarkup-sv.html', 'https://hemel.example/produkt/stavmixer-turbo-800w',
      { name: 'Stavmixer Turbo 800W', brand: 'Mixa', price: 1199, currency: 'SEK', sku: 'SM-800T' }],
  ])('%s', (file, url, want) => {
    const { doc } = loadPage(file, url);
    const r = detectProduct(doc, url);
    expect(r.kind).toBe('product');
    expect(r.product).toMatchObject(want);
  });

  it('category hint falls back to the breadcrumb', () => {
    const { doc } = loadPage('shop-jsonld-graph-de.html', 'https://werkzeug.example/p/x-1');
    expect(detectProduct(doc, 'https://werkzeug.example/p/x-1').product.category_hint).toContain('Akkuschrauber');
  });
});

describe('never an article as a product', () => {
  it.each([
    ['article-news.html', 'https://ledger.example/2026/11/20/retailers-brace'],
    ['article-with-product-ad.html', 'https://magazin.example/test/kaffeemaschinen'],
    ['article-review-with-product-jsonld.html', 'https://gearblog.example/reviews/gothamite-duffle'],
    ['blog-affiliate-nomarkup.html', 'https://kitchen-notes.example/gifts-under-50'],
  ])('%s is not a product page', (file, url) => {
    const { doc } = loadPage(file, url);
    const r = detectProduct(doc, url);
    expect(r.kind).not.toBe('product');
    expect(r.product).toBeNull();
  });

  it('og:type=article alone does not beat a priced product on a product URL with a cart', () => {
    const html = `<html lang="it"><head><meta property="og:type" content="article"></head><body>
      <div itemscope itemtype="http://schema.org/Product"><h1 itemprop="name">Puzzle 4x42</h1>
      <div itemprop="offers" itemscope itemtype="http://schema.org/Offer"><span itemprop="price" content="16.90">16,90 €</span>
      <meta itemprop="priceCurrency" content="EUR"></div></div><button>Aggiungi al carrello</button></body></html>`;
    const { doc } = fromHtml(html, 'https://libri.example/products/4005556050178/puzzle.html');
    const r = detectProduct(doc, 'https://libri.example/products/4005556050178/puzzle.html');
    expect(r.kind).toBe('product');
    expect(r.product).toMatchObject({ price: 16.9, currency: 'EUR' });
  });

  it('a category listing with many add-to-cart buttons is not a product view', () => {
    const { doc } = loadPage('listing-category.html', 'https://soundshop.example/c/headphones');
    expect(detectProduct(doc, 'https://soundshop.example/c/headphones').kind).toBe('listing');
  });

  it('a plain page is neither', () => {
    const { doc } = fromHtml('<html><body><h1>Opening hours</h1><p>Mon-Fri 9-17</p></body></html>', 'https://shop.example/info');
    expect(detectProduct(doc, 'https://shop.example/info').kind).toBe('other');
  });
});

describe('hostile pages', () => {
  it('stores an injected product name as inert text and executes nothing', () => {
    const { doc, window } = loadPage('hostile-injection.html', 'https://widgets.example/p/widget-pro');
    const r = detectProduct(doc, 'https://widgets.example/p/widget-pro');
    expect(r.kind).toBe('product');
    expect(typeof r.product.name).toBe('string');
    expect(r.product.name).toContain('<script>'); // kept as literal text, never parsed
    expect(r.product.sku).toBe('W-1');
    expect(window.__pwned).toBeUndefined();
    // Rendering the name the way the popup does (textContent) creates no elements.
    const li = doc.createElement('li');
    li.textContent = r.product.name;
    expect(li.children.length).toBe(0);
  });
});

describe('undeclared articles', () => {
  it('a dated article layout with an embedded Product JSON-LD (ad widget) and no cart is not a product', () => {
    const body = 'Lorem ipsum dolor sit amet, consectetur adipiscing elit. '.repeat(40);
    const html = `<html lang="en"><head><script type="application/ld+json">{"@type":"Product","name":"Sponsored blender","offers":{"price":"49.00","priceCurrency":"USD"}}</script></head>
      <body><article><h1>How we test blenders</h1><p class="byline">By Kim <time datetime="2026-01-02">Jan 2</time></p><p>${body}</p></article></body></html>`;
    const { doc } = fromHtml(html, 'https://mag.example/how-we-test-blenders');
    expect(detectProduct(doc, 'https://mag.example/how-we-test-blenders').kind).toBe('article');
  });
  it('review dates on a product page are not a byline', () => {
    const html = `<html lang="en"><head><script type="application/ld+json">{"@type":"Product","name":"Blender 9","offers":{"price":"49.00","priceCurrency":"USD"}}</script></head>
      <body><article class="product"><h1>Blender 9</h1><span class="price">$49.00</span><button>Add to cart</button>
      <section class="reviews"><div class="review"><span class="author">Kim</span><time datetime="2026-01-02">Jan 2</time></div></section></article></body></html>`;
    const { doc } = fromHtml(html, 'https://shop.example/p/blender-9');
    expect(detectProduct(doc, 'https://shop.example/p/blender-9')).toMatchObject({ kind: 'product', product: { price: 49, currency: 'USD' } });
  });
});

describe('editorial reviews and affiliate links', () => {
  const body = 'Lorem ipsum dolor sit amet, consectetur adipiscing elit. '.repeat(10);
  it('a page whose JSON-LD root is a Review of a product is editorial, even with og:type=article and a buy link', () => {
    const html = `<html lang="en"><head><meta property="og:type" content="article">
      <script type="application/ld+json">{"@context":"https://schema.org","@type":"Review","itemReviewed":{"@type":"Product","name":"Blender 9","offers":{"@type":"Offer","price":"49","priceCurrency":"USD"}},"reviewRating":{"@type":"Rating","ratingValue":4}}</script>
      <script type="application/ld+json">{"@context":"https://schema.org","@type":"Product","name":"Blender 9","offers":{"@type":"Offer","price":"49","priceCurrency":"USD"}}</script>
      </head><body><h1>Blender 9 review</h1><p>${body}</p><a href="/go/blender-9" class="btn">Buy now</a></body></html>`;
    const { doc } = fromHtml(html, 'https://reviews.example/blender-9-review');
    expect(detectProduct(doc, 'https://reviews.example/blender-9-review').kind).toBe('article');
  });
  it('buy links to other sites are not cart controls of this page', () => {
    const html = `<html lang="en"><head><meta property="og:type" content="article">
      <script type="application/ld+json">{"@context":"https://schema.org","@type":"Product","name":"Blender 9","offers":{"@type":"Offer","price":"49","priceCurrency":"USD"}}</script>
      </head><body><h1>Our favourite blender</h1><p>${body}</p><a href="https://www.bigshop.example/dp/B0001?tag=aff-20" class="btn">Buy now</a></body></html>`;
    const { doc } = fromHtml(html, 'https://blog.example/favourite-blender');
    expect(detectProduct(doc, 'https://blog.example/favourite-blender').kind).toBe('article');
  });
  it('a shop linking its own cart on a subdomain still counts', () => {
    const html = `<html lang="en"><head><script type="application/ld+json">{"@type":"Product","name":"Lamp","offers":{"price":"20","priceCurrency":"EUR"}}</script></head>
      <body><h1>Lamp</h1><a href="https://checkout.shop.example/cart/add?sku=1">Add to cart</a></body></html>`;
    const { doc } = fromHtml(html, 'https://www.shop.example/lamp');
    expect(detectProduct(doc, 'https://www.shop.example/lamp').kind).toBe('product');
  });
});

it('off-site detection knows second-level country domains', () => {
  const html = `<html lang="en-GB"><head><meta property="og:type" content="article">
    <script type="application/ld+json">{"@type":"Product","name":"Kettle","offers":{"price":"20","priceCurrency":"GBP"}}</script></head>
    <body><h1>Best kettles</h1><a href="https://www.bigshop.co.uk/kettle">Buy now</a></body></html>`;
  const { doc } = fromHtml(html, 'https://www.kettle-blog.co.uk/best-kettles');
  expect(detectProduct(doc, 'https://www.kettle-blog.co.uk/best-kettles').kind).toBe('article');
});

it('a listing marked up with many microdata products is a listing, not the first product', () => {
  const tiles = Array.from({ length: 8 }, (_, i) => `<li itemscope itemtype="https://schema.org/Product"><span itemprop="name">Lamp ${i}</span>
    <div itemprop="offers" itemscope itemtype="https://schema.org/Offer"><meta itemprop="price" content="${10 + i}"><meta itemprop="priceCurrency" content="EUR"></div></li>`).join('');
  const { doc } = fromHtml(`<html><body><h1>Lamps</h1><ul>${tiles}</ul></body></html>`, 'https://shop.example/c/lamps');
  expect(detectProduct(doc, 'https://shop.example/c/lamps').kind).toBe('listing');
});

it('an unavailable product on a product URL with a wishlist control is a product view without a price', () => {
  const html = `<html lang="en-US"><body><h1 id="title">Oceana tuna 6 pack</h1><div id="brand">Brand: Oceana</div>
    <div id="availability">Currently unavailable.</div><button>Add to List</button></body></html>`;
  const { doc } = fromHtml(html, 'https://bigshop.example/dp/B00BRMIU7A');
  expect(detectProduct(doc, 'https://bigshop.example/dp/B00BRMIU7A')).toMatchObject({ kind: 'product',
    product: { name: 'Oceana tuna 6 pack', brand: 'Oceana', price: null, sku: 'B00BRMIU7A' } });
});

it('a brand containing a word like "Market" is kept ("Brand:" label stripped)', () => {
  const html = `<html lang="en-US"><body><h1>Potato chips</h1><a id="bylineInfo" href="/b/1">Brand: 365 by Whole Foods Market</a>
    <span class="price">$3.49</span><button>Add to Cart</button></body></html>`;
  const { doc } = fromHtml(html, 'https://bigshop.example/dp/B07FW264WL');
  expect(detectProduct(doc, 'https://bigshop.example/dp/B07FW264WL').product).toMatchObject({ brand: '365 by Whole Foods Market', price: 3.49, currency: 'USD' });
});
