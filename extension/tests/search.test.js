import { describe, it, expect } from 'vitest';
import { detectSearch } from '../src/capture/search.js';

describe('search detection', () => {
  it.each([
    ['https://www.google.com/search?q=oled+tv+65&hl=en&ei=abc', 'oled tv 65', 'google'],
    ['https://www.google.de/search?q=fernseher&source=hp', 'fernseher', 'google'],
    ['https://www.bing.com/search?q=running+shoes&form=QBLH', 'running shoes', 'bing'],
    ['https://duckduckgo.com/?q=espresso+machine&t=h_', 'espresso machine', 'duckduckgo'],
    ['https://www.amazon.co.uk/s?k=air+fryer&ref=nb_sb_noss', 'air fryer', 'amazon'],
    ['https://www.ebay.de/sch/i.html?_nkw=lego+technic&_sacat=0', 'lego technic', 'ebay'],
    ['https://yandex.ru/search/?text=%D0%BD%D0%BE%D1%83%D1%82%D0%B1%D1%83%D0%BA', 'ноутбук', 'yandex'],
    ['https://tienda.example/buscar?q=zapatillas+running&page=2', 'zapatillas running', 'shop'],
    ['https://shop.example/catalogsearch/result/?q=sofa', 'sofa', 'shop'],
    ['https://shop.example/suche?SearchTerm=Bohrschrauber', 'Bohrschrauber', 'shop'],
    ['https://shop.example/search/red+shoes', 'red shoes', 'shop'],
    ['https://shop.example/products?searchTerm=lamp', 'lamp', 'shop'],
  ])('%s', (url, query, engine) => {
    expect(detectSearch(url)).toEqual({ query, engine });
  });
  it.each([
    'https://www.google.com/maps?q=pizza',
    'https://shop.example/p/123?q=tracking',
    'https://shop.example/search',
    'https://www.google.com/search?q=jane.doe%40mail.example',
    'https://shop.example/search?q=4111+1111+1111+1111',
    'ftp://shop.example/search?q=x',
  ])('no search (or a personal-looking term) for %s', (url) => {
    expect(detectSearch(url)).toBeNull();
  });
  it('uses a custom pattern file', () => {
    const patterns = { engines: [{ name: 'intra', host: '^find\\.example$', path: '^/$', params: ['term'] }], shops: { path: '^$', params: [] } };
    expect(detectSearch('https://find.example/?term=bikes', patterns)).toEqual({ query: 'bikes', engine: 'intra' });
  });
});

describe('query strings without URLSearchParams iteration (Firefox content scripts)', () => {
  it('decodes names and values like a form', async () => {
    const { queryPairs } = await import('../src/capture/search.js');
    expect(queryPairs('?q=oled+tv&empty=&flag&x=%C3%A9t%C3%A9')).toEqual([['q', 'oled tv'], ['empty', ''], ['flag', ''], ['x', 'été']]);
    expect(queryPairs('?bad=%E0%A4%A')).toEqual([['bad', '%E0%A4%A']]);
  });
});
