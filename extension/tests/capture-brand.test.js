/**
 * Issue 15, brand on real pages, as classes with small synthetic pages (no real page copied): store links and
 * "more from" texts in many languages and shapes, labelled detail rows, brand links next to the heading, a
 * brand's sub-line, JSON-LD brand shapes; the shop's own name and the title are never a brand read from the page.
 */
import { describe, it, expect } from 'vitest';
import { brandName, detectProduct } from '../src/capture/product.js';
import { fromHtml } from './helpers/dom.js';

const URL = 'https://www.nordichome.example/p/oak-sideboard-123';
const SITE = '<meta property="og:site_name" content="Nordic Home">';
const ld = (extra) => `<script type="application/ld+json">${JSON.stringify({ '@context': 'https://schema.org', '@type': 'Product', name: 'Oak sideboard', offers: { '@type': 'Offer', price: '499.00', priceCurrency: 'EUR' }, ...extra })}</script>`;
const brandOf = (body, head = ld({})) => detectProduct(fromHtml(`<html><head>${SITE}${head}</head><body>${body}</body></html>`, URL).doc, URL).product.brand;

describe('store-link and "more from" texts, in many languages and shapes', () => {
  it.each([
    ['Visit the Nordwood Store', 'Nordwood'], ['Besuchen Sie den Nordwood-Store', 'Nordwood'], ['Nordwood-Shop', 'Nordwood'],
    ["Nordwood's Store", 'Nordwood'], ['Nordwood Official Store', 'Nordwood'], ['Visita la tienda de Nordwood', 'Nordwood'],
    ['Más productos de Nordwood', 'Nordwood'], ['Ver mais produtos de Nordwood', 'Nordwood'], ['Voir tous les produits Nordwood', 'Nordwood'],
    ['Mehr von Nordwood', 'Nordwood'], ['Alle Produkte von Nordwood', 'Nordwood'], ['Więcej produktów marki Nordwood', 'Nordwood'],
    ['Další produkty značky Nordwood', 'Nordwood'], ['Fler produkter från Nordwood', 'Nordwood'], ['Все товары бренда Nordwood', 'Nordwood'],
    ['Nordwood Mağazası', 'Nordwood'], ['进入小米旗舰店', '小米'], ['小米官方旗舰店', '小米'], ['ノルドウッドのストアを表示', 'ノルドウッド'],
    ['노르드우드 브랜드관', '노르드우드'], ['Shop all Nordwood', 'Nordwood'], ['by Nordwood', 'Nordwood'],
  ])('%s -> %s', (text, brand) => {
    expect(brandName(text)).toBe(brand);
  });
  it.each([
    ['Brand: Nordwood'], ['Marke: Nordwood'], ['Marca: Nordwood'], ['Бренд: Nordwood'], ['品牌：Nordwood'], ['ブランド：Nordwood'], ['Značka: Nordwood'],
  ])('a label with a colon: %s', (text) => {
    expect(brandName(text)).toBe('Nordwood');
  });
});

describe('brand read from the page', () => {
  it('a labelled row of the product details: label cell and value, in several languages', () => {
    for (const label of ['Brand', 'Marke:', 'Marca', 'Бренд:', 'Proizvajalec:', '品牌']) {
      expect(brandOf(`<h1>Oak sideboard</h1><table><tr><th>${label}</th><td>Nordwood</td></tr><tr><th>Weight</th><td>40 kg</td></tr></table><button>Add to cart</button>`), label).toBe('Nordwood');
    }
    expect(brandOf('<h1>Oak sideboard</h1><ul><li><strong>Marke:</strong> <a href="/m/7">Nordwood</a></li><li><strong>Art.-Nr.:</strong> 0638</li></ul><button>In den Warenkorb</button>')).toBe('Nordwood');
  });
  it('a brand label outranks a manufacturer label; labels in reviews or other products\' boxes are not this product\'s', () => {
    expect(brandOf('<h1>Oak sideboard</h1><dl><dt>Manufacturer</dt><dd>Big Furniture Group</dd><dt>Brand</dt><dd>Nordwood</dd></dl><button>Add to cart</button>')).toBe('Nordwood');
    expect(brandOf('<h1>Oak sideboard</h1><button>Add to cart</button><div class="reviews"><dl><dt>Brand</dt><dd>Otherwood</dd></dl></div>')).toBe('');
    const grid = ['Alpha', 'Beta', 'Gamma'].map((b) => `<div class="tile"><dl><dt>Brand</dt><dd>${b}</dd></dl></div>`).join('');
    expect(brandOf(`<h1>Oak sideboard</h1><button>Add to cart</button>${grid}`)).toBe('');
  });
  it('a link to the brand\'s page next to the heading; a menu of brand links is not', () => {
    expect(brandOf('<div class="pdp"><a href="/brands/nordwood">Nordwood</a><h1>Oak sideboard</h1><button>Add to cart</button></div>')).toBe('Nordwood');
    expect(brandOf('<h1>Oak sideboard</h1><p>Made by <a href="/index.php?route=product/manufacturer/info&manufacturer_id=13">Nordwood</a></p><button>Add to cart</button>')).toBe('Nordwood');
    const menu = ['Alpha', 'Beta', 'Gamma', 'Delta'].map((b) => `<li><a href="/brand/${b.toLowerCase()}">${b}</a></li>`).join('');
    expect(brandOf(`<div class="mega"><ul>${menu}</ul></div><h1>Oak sideboard</h1><button>Add to cart</button>`)).toBe('');
  });
  it('a brand box with a sub-line (collection, tagline): the brand, not the sub-line', () => {
    expect(brandOf('<h1>Oak sideboard</h1><div class="product-brand"><a href="/b/nordwood">Nordwood</a><span class="brand-subline">Heritage Collection</span></div><button>Add to cart</button>')).toBe('Nordwood');
    expect(brandOf('<h1>Oak sideboard</h1><div class="brand">Nordwood<small>since 1952</small></div><button>Add to cart</button>')).toBe('Nordwood');
  });
  it('the shop\'s own name, its domain, the product title or a navigation label are never a brand read from the page', () => {
    expect(brandOf('<h1>Oak sideboard</h1><div class="brand">Nordic Home</div><button>Add to cart</button>')).toBe('');
    expect(brandOf('<h1>Oak sideboard</h1><div class="brand">NordicHome</div><button>Add to cart</button>')).toBe('');
    expect(brandOf('<h1>Oak sideboard</h1><div class="brand">Oak sideboard</div><button>Add to cart</button>')).toBe('');
    expect(brandOf('<h1>Oak sideboard</h1><div class="brand">All brands</div><button>Add to cart</button>')).toBe('');
    expect(brandOf('<header><a class="navbar-brand" href="/">Nordwood</a></header><h1>Oak sideboard</h1><button>Add to cart</button>')).toBe('');
  });
});

describe('JSON-LD brand shapes', () => {
  it.each([
    ['a string', { brand: 'Nordwood' }],
    ['an object', { brand: { '@type': 'Brand', name: 'Nordwood' } }],
    ['an array', { brand: [{ '@type': 'Brand', name: 'Nordwood' }, { '@type': 'Brand', name: 'Other' }] }],
    ['an object whose name is an array', { brand: { '@type': 'Brand', name: ['Nordwood'] } }],
    ['a manufacturer when no brand', { manufacturer: { '@type': 'Organization', name: 'Nordwood' } }],
  ])('%s', (_, extra) => {
    expect(brandOf('<h1>Oak sideboard</h1><button>Add to cart</button>', ld(extra))).toBe('Nordwood');
  });
  it('a reference to a node elsewhere in the graph ({"@id": …})', () => {
    const graph = `<script type="application/ld+json">${JSON.stringify({ '@context': 'https://schema.org', '@graph': [
      { '@type': 'Brand', '@id': 'https://x.example/#brand', name: 'Nordwood' },
      { '@type': 'Product', name: 'Oak sideboard', brand: { '@id': 'https://x.example/#brand' }, offers: { price: '499', priceCurrency: 'EUR' } }] })}</script>`;
    expect(brandOf('<h1>Oak sideboard</h1><button>Add to cart</button>', graph)).toBe('Nordwood');
  });
  it('a declared brand equal to the product title is a template filling, not the brand; a house brand stays', () => {
    expect(brandOf('<h1>Oak sideboard</h1><div class="brand">Nordwood</div><button>Add to cart</button>', ld({ brand: 'Oak sideboard' }))).toBe('Nordwood');
    expect(brandOf('<h1>Oak sideboard</h1><button>Add to cart</button>', ld({ brand: 'Nordic Home' }))).toBe('Nordic Home');
    expect(brandOf('<h1>Oak sideboard</h1><button>Add to cart</button>', ld({ brand: 'Unbranded' }))).toBe('');
  });
});

describe("a brand in the page's own scripts, confirmed by the product's name", () => {
  const named = (name) => ld({ name });
  it('an app state or data layer brand the name holds as whole words, spelled as the name shows it', () => {
    const state = '<script>window.__STATE__ = {"product": {"id": 7, "brandName": "NORD WOOD", "price": 499}};</script>';
    expect(brandOf(`<h1>Nord-Wood Oak sideboard</h1>${state}`, named('Nord-Wood Oak sideboard'))).toBe('Nord-Wood');
    const ga = "<script>dataLayer.push({ecommerce: {items: [{item_name: 'Oak sideboard', item_brand: 'Nordwood'}]}});</script>";
    expect(brandOf(`<h1>Nordwood Oak sideboard</h1>${ga}`, named('Nordwood Oak sideboard'))).toBe('Nordwood');
    const nested = '<script type="application/json">{"brand": {"id": 3, "name": "Nordwood"}}</script>';
    expect(brandOf(`<h1>Oak sideboard by Nordwood</h1>${nested}`, named('Oak sideboard by Nordwood'))).toBe('Nordwood');
  });
  it("a scripts' brand the name does not hold is another product's, and the shop is never a brand", () => {
    const other = '<script>var recs = [{"brand": "Birchline", "name": "Pine shelf"}];</script>';
    expect(brandOf(`<h1>Oak sideboard</h1>${other}`, named('Oak sideboard'))).toBe('');
    const shop = '<script>var p = {"brand": "Nordic Home"};</script>';
    expect(brandOf(`<h1>Nordic Home oak sideboard</h1>${shop}`, named('Nordic Home oak sideboard'))).toBe('');
  });
});
