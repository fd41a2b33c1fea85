/**
 * Issue 15, prices and currencies on real pages, as classes with small synthetic pages (no real page copied):
 * the sale price and not the list/net price or an auction's bid, other products' grids, local currency
 * words in any letter case, shared symbols decided by the page, and how each currency was decided.
 */
import { describe, it, expect } from 'vitest';
import { analysePage } from '../src/capture/page.js';
import { extractHeuristics } from '../src/capture/heuristics.js';
import { currencyMarker, symbolToIso, normalizeCurrency } from '../src/capture/currency.js';
import { fromHtml } from './helpers/dom.js';

const page = (html, url = 'https://shop.example/item/lamp-2040') => analysePage(fromHtml(html, url).doc, url);
const heur = (html, url = 'https://shop.example/item/lamp-2040') => extractHeuristics(fromHtml(html, url).doc, url);
const shell = (body, lang = 'en') => `<html lang="${lang}"><body><h1>Desk lamp Arc 40</h1>${body}<button>Add to cart</button></body></html>`;

describe('visible prices: the price a shopper pays', () => {
  it('a net price labelled "excluding VAT" in any language is not the price', () => {
    for (const label of ['excl. VAT', 'ohne MwSt.', 'Brez DDV:', 'sans TVA', 'HT', 'bez DPH', 'sin IVA', '+ VAT']) {
      const html = shell(`<ul class="prices"><li class="price">48,00 €</li><li class="small"><span>${label}</span> <span class="price-x">39,34 €</span></li></ul>`);
      expect(heur(html).price, label).toBe(48);
    }
  });
  it('a gross price and its net price in one box: the gross one, whichever comes first', () => {
    const html = shell('<div class="price-box"><span class="price-net">39,34 € excl. VAT</span><span class="price">48,00 €</span></div>');
    expect(heur(html).price).toBe(48);
  });
  it('a price marked "new" beats the old one, also in a banner class (e.g. a slider)', () => {
    const html = shell('<div class="hero-slider-price"><span class="hero-slider-priceold">540,00 €</span><span class="hero-slider-pricenew">270,00 €</span></div>');
    expect(heur(html).price).toBe(270);
  });
  it('struck-through prices by class (line-through) are list prices', () => {
    const html = shell('<p><span class="price text-line-through">99,00 €</span> <span class="price">79,00 €</span></p>');
    expect(heur(html).price).toBe(79);
  });
  it('a grid of other products with the same price class, after the main price, is not the price', () => {
    const grid = [169, 1200, 540, 279, 343].map((v) => `<div class="item"><a href="/x/${v}">Other ${v}</a><span class="item-price-new">${v},00 €</span></div>`).join('');
    const html = shell(`<div class="main"><span class="buy-price">270,00 €</span></div><section>${grid}</section>`);
    const r = heur(html);
    expect(r.price).toBe(270);
  });
  it('an auction\'s current bid is not the price when a buy-it-now price is shown', () => {
    const html = shell('<div class="bid-box"><span class="price">US $120.00</span> <span>5 bids</span></div><div class="bin"><span class="price">US $180.00</span> Buy It Now</div>');
    expect(heur(html).price).toBe(180);
    const de = shell('<div><span class="preis">120,00 €</span> Aktuelles Gebot</div><div><span class="preis">180,00 €</span> Sofort-Kaufen</div>', 'de');
    expect(heur(de).price).toBe(180);
  });
  it('Magento-style price attributes: data-price-amount of the final price, not the old price', () => {
    const html = shell('<span data-price-type="oldPrice" data-price-amount="59.9"><span class="price">59,90 €</span></span><span data-price-type="finalPrice" data-price-amount="44.9"><span class="price">44,90 €</span></span>');
    expect(heur(html).price).toBe(44.9);
  });
  it('an OpenCart-style cart button (#button-cart, any label) makes a page without markup a product page', () => {
    const html = '<html lang="sl"><body><h1>Bralna očala Lux</h1><div class="col"><ul><li><h2 class="price">40.00€</h2></li></ul><button type="button" id="button-cart">Naroči</button></div></body></html>';
    const r = page(html, 'https://optika.example.si/ocala/bralna-ocala-lux');
    expect(r.kind).toBe('product');
    expect(r.product).toMatchObject({ price: 40, currency: 'EUR' });
  });
});

describe('currency words and symbols', () => {
  it.each([
    ['270,00 Kn', 'HRK'], ['270,00 KN', 'HRK'], ['45 LEI', 'RON'], ['45 Lei', 'RON'], ['199 ZŁ', 'PLN'], ['1 290 Kč', 'CZK'],
    ['1 200 руб.', 'RUB'], ['1 200 рублей', 'RUB'], ['990 грн', 'UAH'], ['12 000 сом', 'KGS'], ['1.500 ден', 'MKD'],
    ['250.000đ', 'VND'], ['3 490 Ft', 'HUF'], ['CN¥ 120', 'CNY'], ['GH₵ 50', 'GHS'], ['KSh 1,200', 'KES'],
  ])('%s -> %s', (text, iso) => {
    expect(symbolToIso(text)).toBe(iso);
  });
  it('words that only look like markers are not currencies', () => {
    for (const text of ['12 ft cable', 'рубашка 12', 'Размер. 42', 'SEE ALL 12 reviews', 'TOP 10 lamps', 'TRY IT 30 days', 'WORLD CUP 2026 final']) {
      expect(symbolToIso(text), text).toBeNull();
    }
    expect(symbolToIso('12 ALL')).toBe('ALL'); // a code next to a number still is one
  });
  it('元 is the currency of the page\'s country: yuan in China, the Taiwan or Hong Kong dollar there', () => {
    expect(symbolToIso('990元', { host: 'shop.example.cn' })).toBe('CNY');
    expect(symbolToIso('990元', { host: 'shop.example.tw' })).toBe('TWD');
    expect(symbolToIso('990元', { lang: 'zh-HK' })).toBe('HKD');
    expect(symbolToIso('990元')).toBe('CNY');
    expect(symbolToIso('美元汇率')).toBeNull(); // 元 inside a word is not a price
  });
  it('"$" and "kr": the page\'s declared currency, then its country-code domain, then og:locale / html lang', () => {
    expect(normalizeCurrency('$', { pageCurrency: 'AUD', lang: 'en-US' })).toBe('AUD');
    expect(normalizeCurrency('$', { host: 'shop.example.ca', lang: 'en-US', ogLocale: 'en_US' })).toBe('CAD');
    expect(normalizeCurrency('$', { host: 'shop.example.com.au', ogLocale: 'en_US' })).toBe('AUD');
    expect(normalizeCurrency('$', { host: 'brand.co', lang: 'en-US' })).toBe('USD'); // .co sold as a generic name
    expect(normalizeCurrency('$', { host: 'tienda.example', lang: 'es-MX' })).toBe('MXN');
    expect(normalizeCurrency('kr', { host: 'shop.example.no', lang: 'en' })).toBe('NOK');
    expect(normalizeCurrency('kr', { ogLocale: 'da_DK' })).toBe('DKK');
  });
  it('says how the currency was decided', () => {
    expect(currencyMarker('12 EUR')).toEqual({ iso: 'EUR', how: 'code' });
    expect(currencyMarker('12 €')).toEqual({ iso: 'EUR', how: 'symbol' });
    expect(currencyMarker('$12', { lang: 'en-NZ' })).toEqual({ iso: 'NZD', how: 'symbol+locale' });
  });
  it('a product page reports whether its currency came from markup, a visible symbol or the page\'s country', () => {
    const ld = '<script type="application/ld+json">{"@type":"Product","name":"Lamp","offers":{"price":"20.00","priceCurrency":"CAD"}}</script>';
    expect(page(`<html><head>${ld}</head><body><h1>Lamp</h1><button>Add to cart</button></body></html>`).decided.currency).toBe('markup');
    const vis = page(shell('<span class="price">$20.00</span>'), 'https://shop.example.ca/item/lamp-2040');
    expect(vis.product.currency).toBe('CAD');
    expect(vis.decided.currency).toBe('visible symbol+locale');
    const bareLd = '<script type="application/ld+json">{"@type":"Product","name":"Lamp","offers":{"price":"20.00"}}</script>';
    const bare = page(`<html lang="de"><head>${bareLd}</head><body><h1>Lamp</h1><button>In den Warenkorb</button></body></html>`, 'https://shop.example.de/item/lamp-2040');
    expect(bare.product).toMatchObject({ price: 20, currency: 'EUR' });
    expect(bare.decided.currency).toMatch(/page country/);
  });
});

describe('declared prices (schema.org, OpenGraph): the sale price, not the list price', () => {
  const ld = (offers, lang = 'en') => `<html lang="${lang}"><head><script type="application/ld+json">${JSON.stringify({ '@context': 'https://schema.org', '@type': 'Product', name: 'Desk lamp Arc 40', offers })}</script></head><body><h1>Desk lamp Arc 40</h1><button>Add to cart</button></body></html>`;
  const priceOf = (html, url) => page(html, url).product;
  it('a strike-through / list price specification is skipped for the sale one', () => {
    const offers = { '@type': 'Offer', priceCurrency: 'EUR', priceSpecification: [
      { '@type': 'UnitPriceSpecification', priceType: 'https://schema.org/StrikethroughPrice', price: 100 },
      { '@type': 'UnitPriceSpecification', price: 80 }] };
    expect(priceOf(ld(offers))).toMatchObject({ price: 80, currency: 'EUR' });
    const listFirst = { '@type': 'Offer', priceCurrency: 'EUR', priceSpecification: [
      { '@type': 'UnitPriceSpecification', priceType: 'ListPrice', price: '59.90' }, { '@type': 'UnitPriceSpecification', priceType: 'SalePrice', price: '44.90' }] };
    expect(priceOf(ld(listFirst)).price).toBe(44.9);
  });
  it('an offer stating a price and a lower lowPrice: the lower one; an AggregateOffer without price: lowPrice', () => {
    expect(priceOf(ld({ '@type': 'Offer', price: '120.00', lowPrice: '99.00', priceCurrency: 'USD' })).price).toBe(99);
    expect(priceOf(ld({ '@type': 'AggregateOffer', lowPrice: '19.90', highPrice: '29.90', priceCurrency: 'CHF' })).price).toBe(19.9);
  });
  it('several offers: the first one in stock with a price', () => {
    const offers = [{ '@type': 'Offer', price: '0', priceCurrency: 'EUR' }, { '@type': 'Offer', price: '35', priceCurrency: 'EUR', availability: 'https://schema.org/OutOfStock' },
      { '@type': 'Offer', price: '39', priceCurrency: 'EUR', availability: 'https://schema.org/InStock' }];
    expect(priceOf(ld(offers)).price).toBe(39);
  });
  it('"2.449" is 2449 in a currency without cents or, ending in a non-zero digit, in a locale that groups thousands with "."', () => {
    expect(priceOf(ld({ '@type': 'Offer', price: '24.990', priceCurrency: 'CLP' }, 'es-CL')).price).toBe(24990);
    expect(priceOf(ld({ '@type': 'Offer', price: '2.449', priceCurrency: 'EUR' }, 'de-DE')).price).toBe(2449);
    expect(priceOf(ld({ '@type': 'Offer', price: '12.990', priceCurrency: 'EUR' }, 'de-DE')).price).toBe(12.99);
    expect(priceOf(ld({ '@type': 'Offer', price: '2.449', priceCurrency: 'KWD' }, 'ar')).price).toBe(2.45);
    expect(priceOf(ld({ '@type': 'Offer', price: '2.449', priceCurrency: 'USD' })).price).toBe(2.45);
  });
  it('microdata: a struck-through or old-price itemprop=price beside the price to pay is the list price', () => {
    const html = `<html><body><div itemscope itemtype="https://schema.org/Product"><h1 itemprop="name">Desk lamp Arc 40</h1>
      <div itemprop="offers" itemscope itemtype="https://schema.org/Offer"><meta itemprop="priceCurrency" content="EUR">
      <span class="price-old"><span itemprop="price" content="59.90">59,90 €</span></span><span itemprop="price" content="44.90">44,90 €</span></div>
      <button>Add to cart</button></div></body></html>`;
    expect(priceOf(html)).toMatchObject({ price: 44.9, currency: 'EUR' });
    const alone = html.replace('<span itemprop="price" content="44.90">44,90 €</span>', '');
    expect(priceOf(alone).price).toBe(59.9); // alone, it is still the product's price
  });
  it('OpenGraph: product:sale_price beats product:price', () => {
    const html = `<html><head><meta property="og:type" content="product"><meta property="og:title" content="Desk lamp Arc 40">
      <meta property="product:price:amount" content="59.90"><meta property="product:price:currency" content="EUR">
      <meta property="product:sale_price:amount" content="44.90"><meta property="product:sale_price:currency" content="EUR"></head><body><h1>Desk lamp Arc 40</h1></body></html>`;
    expect(priceOf(html)).toMatchObject({ price: 44.9, currency: 'EUR' });
  });
});

describe('markup stating the list price while the page shows a sale price', () => {
  const html = (declared, visible) => `<html><head><script type="application/ld+json">${JSON.stringify({ '@type': 'Product', name: 'Desk lamp Arc 40', offers: { price: declared, priceCurrency: 'EUR' } })}</script></head>
    <body><h1>Desk lamp Arc 40</h1><div class="price-box">${visible}</div><button>Add to cart</button></body></html>`;
  it('the declared price struck through next to a lower price: the lower price', () => {
    expect(page(html('100.00', '<del>100,00 €</del> <span class="price">80,00 €</span>')).product.price).toBe(80);
    expect(page(html('100.00', '<span class="old-price">100,00 €</span> <span class="special-price">80,00 €</span>')).product.price).toBe(80);
  });
  it('the declared price shown as the price (the struck one is another): the declared price', () => {
    expect(page(html('80.00', '<del>100,00 €</del> <span class="price">80,00 €</span>')).product.price).toBe(80);
    expect(page(html('100.00', '<del>100,00 €</del>')).product.price).toBe(100);
  });
});

describe('a shared symbol decided by a currency the page declares elsewhere', () => {
  it('"$" on a page whose markup declares AUD elsewhere (another node, a meta tag) is AUD', () => {
    const other = '<script type="application/ld+json">{"@type":"ItemList","itemListElement":[{"@type":"Offer","priceCurrency":"AUD","price":"5"}]}</script>';
    const r = heur(`<html lang="en-US"><head>${other}</head><body><h1>Desk lamp Arc 40</h1><span class="price">$49.95</span><button>Add to cart</button></body></html>`, 'https://shop.example.com/item/lamp-2040');
    expect(r).toMatchObject({ price: 49.95, currency: 'AUD' });
    const metaTag = heur('<html lang="en"><head><meta property="product:price:currency" content="NZD"></head><body><h1>Lamp</h1><span class="price">$49.95</span></body></html>');
    expect(metaTag.currency).toBe('NZD');
    const euro = heur(`<html lang="en-US"><head>${other}</head><body><h1>Lamp</h1><span class="price">49,95 €</span></body></html>`);
    expect(euro.currency).toBe('EUR'); // a symbol of one currency is not overridden
  });
});

describe('visible prices: text as a shopper reads it', () => {
  const at = (html, lang = 'en', url = 'https://shop.example/products/arc-lamp') => page(`<html lang="${lang}"><body><h1>Arc lamp</h1>${html}<button>Add to cart</button></body></html>`, url).product;
  it('cents in a superscript or a "fraction" element keep their decimal separator', () => {
    expect(at('<div class="product-price"><span class="price">$49<sup>99</sup></span></div>')).toMatchObject({ price: 49.99, currency: 'USD' });
    expect(at('<div class="product-price">49<sup>90</sup> €</div>', 'fr')).toMatchObject({ price: 49.9, currency: 'EUR' });
    expect(at('<div class="price"><span>1.299</span><sup>00</sup> €</div>', 'de')).toMatchObject({ price: 1299, currency: 'EUR' });
    expect(at('<div class="price"><span class="currency">£</span><span class="price-whole">1,299</span><span class="price-fraction">00</span></div>')).toMatchObject({ price: 1299, currency: 'GBP' });
  });
  it('several amounts in one price box: the one the words call current, never the list price or the saving', () => {
    expect(at('<div class="prices"><span class="was">Was £60.00</span><span class="now">Now £45.00</span></div>').price).toBe(45);
    expect(at('<div class="price"><span class="sr-only">Regular price</span><span class="money">$80.00</span><span class="sr-only">Sale price</span><span class="money">$60.00</span></div>').price).toBe(60);
    expect(at('<div class="preco">de R$ 199,90 por R$ 149,90</div>', 'pt-BR').price).toBe(149.9);
    expect(at('<div class="price">Save $20.00 (25%) <b>$60.00</b></div>').price).toBe(60);
    expect(at('<div class="price">UVP 80,00 € 59,00 €</div>', 'de').price).toBe(59);
  });
  it('an instalment or a price per unit in the price box is not the price; a price per unit alone still is', () => {
    expect(at('<div class="preco">R$ 179,90 ou 12x de R$ 14,99 sem juros</div>', 'pt-BR').price).toBe(179.9);
    expect(at('<div class="preco">12x de R$ 14,99 sem juros ou R$ 179,90 à vista</div>', 'pt-BR').price).toBe(179.9);
    expect(at('<div class="price">$25/mo or $299.00</div>').price).toBe(299);
    expect(at('<div class="price">or 4 payments of $12.50 <b>$50.00</b></div>').price).toBe(50);
    expect(at('<div class="preis">(12,99 €/kg) 6,49 €</div>', 'de').price).toBe(6.49);
    expect(at('<div class="preis">3,49 € / kg</div>', 'de').price).toBe(3.49);
  });
  it('an amount right after a "Price:" label, in an element that does not say it is a price', () => {
    expect(at('<p>Price: <b>$1,299.99</b> &amp; free shipping</p>')).toMatchObject({ price: 1299.99, currency: 'USD' });
    expect(at('<p>Preis: <strong>24,90 €</strong></p>', 'de')).toMatchObject({ price: 24.9, currency: 'EUR' });
  });
  it('a "Price:" line alone, without a cart control, does not make a page a product page (a review has one too)', () => {
    const html = '<html lang="en"><body><h1>Arc lamp, tested</h1><p>Price: <b>$129.00</b></p><p>We used it for a month.</p></body></html>';
    expect(page(html, 'https://reviews.example/arc-lamp-tested').kind).not.toBe('product');
  });
});
