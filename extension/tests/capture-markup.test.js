/**
 * Issue 15, third pass: declared prices in the shapes shops publish them (JSON-LD offers by reference or as
 * the page's root Offer, OpenGraph and Twitter variants), number shapes by locale, and the page's country and
 * currency from its URL, its hreflang and the browser's own locale data (Intl). Small synthetic pages only.
 */
import { describe, it, expect } from 'vitest';
import { analysePage } from '../src/capture/page.js';
import { extractJsonLd } from '../src/capture/jsonld.js';
import { extractOpenGraph } from '../src/capture/opengraph.js';
import { extractMicrodata } from '../src/capture/microdata.js';
import { parsePrice } from '../src/capture/price.js';
import { parsePriceMachine, wholeUnit } from '../src/capture/schema.js';
import { currencyMarker, currencyFromContext, localCurrency } from '../src/capture/currency.js';
import { pageContext, urlLocale } from '../src/capture/dom.js';
import { countryLocales, groupSeparator, localeTag, symbolMatches } from '../src/capture/intl.js';
import { fromHtml } from './helpers/dom.js';

const URL_ = 'https://shop.example/p/lamp-2040';
const ld = (obj, url = URL_) => extractJsonLd(fromHtml(`<html><head><script type="application/ld+json">${JSON.stringify(obj)}</script></head><body></body></html>`, url).doc, url);
const og = (metas, url = URL_) => extractOpenGraph(fromHtml(`<html><head>${metas}</head><body></body></html>`, url).doc, url);
const page = (html, url = URL_) => analysePage(fromHtml(html, url).doc, url);

describe('JSON-LD offers wherever the page states them', () => {
  it('an offer given as an @id reference to a node elsewhere in @graph', () => {
    const r = ld({ '@context': 'https://schema.org', '@graph': [
      { '@type': 'Product', '@id': '#p', name: 'Desk lamp', offers: { '@id': '#offer' } },
      { '@type': 'Offer', '@id': '#offer', price: '49.90', priceCurrency: 'EUR' },
    ] });
    expect(r.products[0]).toMatchObject({ name: 'Desk lamp', price: 49.9, currency: 'EUR' });
  });
  it('an Offer at the root whose itemOffered is the product (inline or by reference)', () => {
    const inline = ld({ '@context': 'https://schema.org', '@type': 'Offer', price: 1299, priceCurrency: 'SEK', itemOffered: { '@type': 'Product', name: 'Sofa' } });
    expect(inline.products[0]).toMatchObject({ name: 'Sofa', price: 1299, currency: 'SEK' });
    const ref = ld({ '@graph': [
      { '@type': 'Offer', price: '15.00', priceCurrency: 'GBP', itemOffered: { '@id': '#sofa' } },
      { '@type': 'Product', '@id': '#sofa', name: 'Cushion', brand: { '@type': 'Brand', name: 'Loom' } },
    ] });
    expect(ref.products[0]).toMatchObject({ name: 'Cushion', price: 15, currency: 'GBP', brand: 'Loom' });
  });
  it('an AggregateOffer gives its lowPrice; nested offers inside it give their currency', () => {
    const r = ld({ '@type': 'Product', name: 'Tent', offers: { '@type': 'AggregateOffer', lowPrice: '189.00', highPrice: '240.00', offers: [{ '@type': 'Offer', price: '189.00', priceCurrency: 'CHF' }] } });
    expect(r.products[0]).toMatchObject({ price: 189, currency: 'CHF' });
  });
  it('a priceSpecification pair: the sale price, not the strike-through list price', () => {
    const r = ld({ '@type': 'Product', name: 'Kettle', offers: { '@type': 'Offer', priceSpecification: [
      { '@type': 'UnitPriceSpecification', priceType: 'https://schema.org/StrikethroughPrice', price: 59.99, priceCurrency: 'EUR' },
      { '@type': 'UnitPriceSpecification', price: 44.99, priceCurrency: 'EUR' },
    ] } });
    expect(r.products[0]).toMatchObject({ price: 44.99, currency: 'EUR' });
  });
});

describe('OpenGraph and Twitter price tags', () => {
  it('og:price and product:price without ":amount", with the currency in a tag or in the amount', () => {
    expect(og('<meta property="og:type" content="product"><meta property="og:price" content="19.95"><meta property="og:currency" content="USD">').product)
      .toMatchObject({ price: 19.95, currency: 'USD' });
    expect(og('<meta property="og:type" content="product"><meta property="product:price" content="24,90 €">').product)
      .toMatchObject({ price: 24.9, currency: 'EUR' });
  });
  it("Twitter's product card: the data next to a Price label", () => {
    const r = og('<meta name="twitter:label1" content="Price"><meta name="twitter:data1" content="£49.99"><meta name="twitter:label2" content="Availability"><meta name="twitter:data2" content="In stock">');
    expect(r.product).toMatchObject({ price: 49.99, currency: 'GBP' });
    const none = og('<meta name="twitter:label1" content="Written by"><meta name="twitter:data1" content="Ann Lee">');
    expect(none.product).toBeNull();
  });
  it('RDFa with a vocabulary prefix (property="schema:price")', () => {
    const html = '<div vocab="http://schema.org/" typeof="schema:Product"><span property="schema:name">Chair</span><div property="schema:offers" typeof="schema:Offer"><span property="schema:price" content="89.00">89,00 €</span><meta property="schema:priceCurrency" content="EUR"></div></div>';
    expect(extractMicrodata(fromHtml(html, URL_).doc, URL_).products[0]).toMatchObject({ name: 'Chair', price: 89, currency: 'EUR' });
  });
});

describe('numbers as shops write them', () => {
  it.each([
    ['1.299,00 €', 1299], ['1 299,00 kr', 1299], ['1\u00a0299,00\u00a0kr', 1299], ["CHF 1'299.–", 1299], ["CHF 1'299.50", 1299.5],
    ['¥12,800', 12800], ['₹1,29,999', 129999], ['$1,299.99', 1299.99], ['R$ 1.759,99', 1759.99], ['49,-', 49], ['12.345.678', 12345678],
    ['0,99 €', 0.99], ['1 234 567,5 ₽', 1234567.5],
  ])('%j is %d', (text, value) => {
    expect(parsePrice(text)).toBe(value);
  });
  it('a machine price "2.449" is 2449 for a currency without cents (Intl) or in a locale grouping with "." (Intl)', () => {
    expect(parsePriceMachine('2.449', { currency: 'CLP' })).toBe(2449);
    expect(parsePriceMachine('2.449', { currency: 'ISK' })).toBe(2449);
    expect(parsePriceMachine('2.449', { currency: 'EUR', lang: 'de-AT' })).toBe(2449);
    expect(parsePriceMachine('2.449', { currency: 'EUR', lang: 'pt_BR' })).toBe(2449);
    expect(parsePriceMachine('2.449', { currency: 'USD', lang: 'en' })).toBe(2.45);
    expect(parsePriceMachine('2.449', { currency: 'KWD', lang: 'ar' })).toBe(2.45);
    expect(wholeUnit('JPY')).toBe(true);
    expect(wholeUnit('EUR')).toBe(false);
  });
  it('locale data from Intl, and page-made locale tags that are not one', () => {
    expect(localeTag('en_GB')).toBe('en-GB');
    expect(localeTag('not a locale')).toBe('');
    expect(groupSeparator('de')).toBe('.');
    expect(groupSeparator('en')).toBe(',');
    expect(countryLocales('cl', '')).toContain('es-CL');
    expect(symbolMatches('kr.', 'DKK', 'da-DK')).toBe(true);
    expect(symbolMatches('$', 'EUR', 'de-DE')).toBe(false);
  });
});

describe("the page's country and currency", () => {
  it('a country from the locale in the URL: a "xx-yy" host label or path segment', () => {
    expect(urlLocale('https://ar-sa.shop.example/p/1')).toBe('ar-SA');
    expect(urlLocale('https://shop.example/en-ca/product/1')).toBe('en-CA');
    expect(urlLocale('https://shop.example/fr_BE/p/1')).toBe('fr-BE');
    expect(urlLocale('https://shop.example/de/p/1')).toBe('');
    expect(currencyMarker('$129.99', { host: 'shop.example', lang: 'en', urlLocale: 'en-CA' }).iso).toBe('CAD');
  });
  it("the hreflang alternate that is this page names its region; other pages' alternates do not", () => {
    const html = '<html lang="en"><head><link rel="alternate" hreflang="en-us" href="https://shop.example/us/p/1"><link rel="alternate" hreflang="en-au" href="https://shop.example/au/p/1"><link rel="alternate" hreflang="x-default" href="https://shop.example/au/p/1"></head><body></body></html>';
    const url = 'https://shop.example/au/p/1';
    const ctx = pageContext(fromHtml(html, url).doc, url);
    expect(ctx.hreflang).toBe('en-au');
    expect(currencyMarker('$89.00', ctx).iso).toBe('AUD');
  });
  it('a shared symbol is the local currency when Intl shows that currency with it in the page country', () => {
    expect(currencyMarker('$24.990', { host: 'tienda.example.cl' }).iso).toBe('CLP');
    expect(currencyMarker('kr. 1.299', { host: 'shop.example.dk' }).iso).toBe('DKK');
    expect(currencyMarker('3.490 kr.', { host: 'shop.example', lang: 'is' }).iso).toBe('ISK');
    expect(currencyMarker('$49.99', { host: 'shop.example.de' }).iso).toBe('USD');
    expect(currencyMarker('₨ 2,499', { host: 'shop.example.pk' }).iso).toBe('PKR');
    expect(currencyMarker('Rs. 2,499', { host: 'shop.example.lk' }).iso).toBe('LKR');
  });
  it("a marker no table names is the page country's currency only if Intl shows it so there", () => {
    expect(currencyMarker('Q 150.00', { host: 'tienda.example.gt' }).iso).toBe('GTQ');
    expect(currencyMarker('K 75.00', { host: 'shop.example', lang: 'en-ZM' }).iso).toBe('ZMW');
    expect(currencyMarker('L 200', { host: 'shop.example.de' }).iso).toBeNull();
    expect(currencyMarker('Q 150.00', { host: 'shop.example' }).iso).toBeNull();
  });
  it("a country's currency: ISO 4217 names it after the country, the table covers the euro area and the like", () => {
    expect(localCurrency('gt')).toBe('GTQ');
    expect(localCurrency('mk')).toBe('MKD');
    expect(localCurrency('hr')).toBe('EUR');
    expect(localCurrency('at')).toBe('EUR');
    expect(localCurrency('zz')).toBeNull();
    expect(currencyFromContext({ host: 'shop.example.hn' })).toBe('HNL');
  });
  it('a product page priced "$" on a Chilean shop records Chilean pesos without cents', () => {
    const html = '<html lang="es"><body><h1>Silla Nórdica</h1><div class="product-price"><span class="price">$24.990</span></div><button>Agregar al carro</button></body></html>';
    const r = page(html, 'https://tienda.example.cl/silla-nordica-123456.html');
    expect(r.kind).toBe('product');
    expect(r.product).toMatchObject({ price: 24990, currency: 'CLP' });
  });
});

describe('which product the markup is about', () => {
  it("of several priced products at the same depth, the one named like the page's heading", () => {
    const widget = { '@context': 'https://schema.org', '@type': 'Product', name: 'Bulb E27 pack', offers: { '@type': 'Offer', price: '9.90', priceCurrency: 'EUR' } };
    const own = { '@context': 'https://schema.org', '@type': 'Product', name: 'Arc lamp 40', offers: { '@type': 'Offer', price: '129.00', priceCurrency: 'EUR' } };
    const html = `<html lang="en"><head><script type="application/ld+json">${JSON.stringify(widget)}</script><script type="application/ld+json">${JSON.stringify(own)}</script></head><body><h1>Arc lamp 40</h1><button>Add to cart</button></body></html>`;
    expect(page(html).product).toMatchObject({ name: 'Arc lamp 40', price: 129 });
  });
  it('a brand in <meta name="brand"> when the markup names none', () => {
    const own = { '@context': 'https://schema.org', '@type': 'Product', name: 'Arc lamp 40', offers: { '@type': 'Offer', price: '129.00', priceCurrency: 'EUR' } };
    const html = `<html lang="en"><head><meta name="brand" content="Lumo"><script type="application/ld+json">${JSON.stringify(own)}</script></head><body><h1>Arc lamp 40</h1></body></html>`;
    expect(page(html).product.brand).toBe('Lumo');
  });
});
