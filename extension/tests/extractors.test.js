import { describe, it, expect } from 'vitest';
import { loadPage, fromHtml } from './helpers/dom.js';
import { extractJsonLd, parseJsonLd, MAX_SCRIPT_CHARS } from '../src/capture/jsonld.js';
import { extractOpenGraph } from '../src/capture/opengraph.js';
import { extractMicrodata } from '../src/capture/microdata.js';
import { extractHeuristics } from '../src/capture/heuristics.js';

describe('JSON-LD extractor', () => {
  it('reads a Product inside @graph with AggregateOffer and a nested brand object', () => {
    const { doc, url } = loadPage('shop-jsonld-graph-de.html', 'https://werkzeug.example/p/bosch-gsr-12v-35-06019h8000');
    const r = extractJsonLd(doc, url);
    expect(r.products[0]).toMatchObject({ name: 'Bosch Professional Akku-Bohrschrauber GSR 12V-35', brand: 'Bosch Professional',
      price: 1234.56, currency: 'EUR', sku: '06019H8000', category_hint: 'Werkzeug > Elektrowerkzeuge > Akkuschrauber' });
    expect(r.breadcrumbs).toEqual(['Startseite', 'Elektrowerkzeuge', 'Akkuschrauber']);
    expect(r.hasArticle).toBe(false);
  });
  it('reads a top-level array with an offers array and numeric price', () => {
    const { doc, url } = loadPage('shop-jsonld-array-en.html', 'https://homestore.example/gb/en/p/hallby-table-00293772/');
    const [p] = extractJsonLd(doc, url).products;
    expect(p).toMatchObject({ name: 'Hallby oak dining table, 180 cm', brand: 'HomeStore', price: 450, currency: 'GBP', sku: '002.937.72' });
  });
  it('flags article types', () => {
    const { doc, url } = loadPage('article-news.html', 'https://ledger.example/2026/11/20/retail');
    const r = extractJsonLd(doc, url);
    expect(r.hasArticle).toBe(true);
    expect(r.products).toEqual([]);
  });
  it('survives invalid JSON and bounded nesting', () => {
    const { doc, url } = loadPage('hostile-injection.html');
    const r = extractJsonLd(doc, url);
    expect(r.products.map((p) => p.price)).toContain(19.99);
  });
  it('parses leniently but refuses oversized scripts', () => {
    expect(parseJsonLd('<!-- {"@type":"Product","name":"a\nb",} -->')).toEqual({ '@type': 'Product', name: 'a b' });
    expect(parseJsonLd(`{"x":"${'a'.repeat(MAX_SCRIPT_CHARS)}"}`)).toBeNull();
  });
  it('handles a huge JSON-LD list quickly and without blowing the stack', () => {
    const items = Array.from({ length: 20000 }, (_, i) => ({ '@type': 'ListItem', position: i, item: { '@type': 'Thing', name: `n${i}` } }));
    let deep = { '@type': 'Thing' };
    for (let i = 0; i < 1500; i++) deep = { '@type': 'Thing', child: deep };
    const html = `<html><head><script type="application/ld+json">${JSON.stringify({ '@graph': [...items, deep,
      { '@type': 'Product', name: 'Real', offers: { price: '5.00', priceCurrency: 'EUR' } }] })}</script></head><body></body></html>`;
    const { doc, url } = fromHtml(html);
    const t0 = Date.now();
    const r = extractJsonLd(doc, url);
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(Array.isArray(r.products)).toBe(true);
  });
});

describe('OpenGraph extractor', () => {
  it('reads product:price and brand tags', () => {
    const { doc, url } = loadPage('shop-opengraph-fr.html', 'https://horloger.example/produit/montre-sportif-3-48213');
    const r = extractOpenGraph(doc, url);
    expect(r.isProduct).toBe(true);
    expect(r.product).toMatchObject({ name: 'Montre connectée Sportif 3', brand: 'Horloger', price: 259, currency: 'EUR', sku: 'HS-48213' });
  });
  it('reads og:price:amount with a symbol currency', () => {
    const { doc, url } = fromHtml('<html lang="en-US"><head><meta property="og:type" content="og:product"><meta property="og:title" content="Lamp"><meta property="og:price:amount" content="24.50"><meta property="og:price:currency" content="$"></head></html>');
    expect(extractOpenGraph(doc, url).product).toMatchObject({ name: 'Lamp', price: 24.5, currency: 'USD' });
  });
  it('marks articles', () => {
    const { doc, url } = loadPage('article-news.html');
    const r = extractOpenGraph(doc, url);
    expect(r.isArticle).toBe(true);
    expect(r.product).toBeNull();
  });
});

describe('microdata extractor', () => {
  it('reads itemprop price from content, nested brand, and flags products in recommendation boxes', () => {
    const { doc, url } = loadPage('shop-microdata-pl.html', 'https://agd.example/ekspres-kafeo-2000');
    const r = extractMicrodata(doc, url);
    expect(r.products[0]).toMatchObject({ name: 'Ekspres do kawy Kafeo 2000', brand: 'Kafeo', price: 1299.99, currency: 'PLN', sku: 'KF-2000-B', peripheral: false });
    expect(r.products[1]).toMatchObject({ name: 'Młynek do kawy', peripheral: true });
  });
  it('reads a European text price and the currency symbol next to it', () => {
    const { doc, url } = loadPage('shop-microdata-textprice-at.html', 'https://shop.example.at/p/k3-848068924');
    const [p] = extractMicrodata(doc, url).products;
    expect(p).toMatchObject({ name: 'KÄRCHER Hochdruckreiniger K 3 Full Control', brand: 'KÄRCHER', price: 119.01, currency: 'EUR', sku: '2800395267' });
  });
  it('reads RDFa Lite product markup', () => {
    const { doc, url } = fromHtml(`<html lang="en-GB"><body><div vocab="https://schema.org/" typeof="Product">
      <h1 property="name">Desk lamp</h1><div property="offers" typeof="Offer"><span property="price" content="24.00">£24</span>
      <meta property="priceCurrency" content="GBP"></div></div></body></html>`);
    expect(extractMicrodata(doc, url).products[0]).toMatchObject({ name: 'Desk lamp', price: 24, currency: 'GBP' });
  });
});

describe('visible price fallback', () => {
  it('prefers the current price over struck-through, unit, shipping and carousel prices', () => {
    const { doc, url } = loadPage('shop-nomarkup-sv.html', 'https://hemel.example/produkt/stavmixer-turbo-800w');
    const r = extractHeuristics(doc, url);
    expect(r).toMatchObject({ name: 'Stavmixer Turbo 800W', price: 1199, currency: 'SEK' });
  });
  it('joins a currency written in a sibling element', () => {
    const { doc, url } = loadPage('shop-jsonld-array-en.html', 'https://homestore.example/gb/en/p/x/');
    expect(extractHeuristics(doc, url)).toMatchObject({ price: 450, currency: 'GBP' });
  });
  it('finds nothing on a page without prices', () => {
    const { doc, url } = fromHtml('<html><body><h1>About us</h1><p class="price-policy">We have 3 stores.</p></body></html>');
    expect(extractHeuristics(doc, url).price).toBeNull();
  });
});

describe('main heading', () => {
  it('skips hidden/dialog headings and prefers one marked as the title', async () => {
    const { mainHeading } = await import('../src/capture/heuristics.js');
    const { doc } = fromHtml(`<body><div class="a-popover" aria-hidden="true"><h1>Adding to cart…</h1></div>
      <h1 class="site">Shop</h1><h1 id="productTitle">Pink dog hair dye</h1></body>`);
    expect(mainHeading(doc).text).toBe('Pink dog hair dye');
  });
});
