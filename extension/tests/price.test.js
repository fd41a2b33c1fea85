import { describe, it, expect } from 'vitest';
import { parsePrice } from '../src/capture/price.js';
import { normalizeCurrency, symbolToIso, currencyFromContext } from '../src/capture/currency.js';

describe('parsePrice', () => {
  it.each([
    ['1.234,56 €', 1234.56], ['119,01 €', 119.01], ['€ 1,234.56', 1234.56], ['$87.11', 87.11], ['1 299,99 zł', 1299.99],
    ['1\u00a0199 kr', 1199], ['CHF 19.50', 19.5], ["1'234.50 CHF", 1234.5], ['23.450 Rs', 23450], ['$24.990', 24990],
    ['1.234.567', 1234567], ['1,234,567.89', 1234567.89], ['49,-', 49], ['0,99 €', 0.99], ['450', 450], ['12.5', 12.5],
    ['Preis: 2.499,00 EUR', 2499], [99.9, 99.9],
  ])('%s -> %s', (raw, want) => {
    expect(parsePrice(raw)).toBe(want);
  });
  it('three decimals are kept for currencies that use them', () => {
    expect(parsePrice('12.345', { currency: 'KWD' })).toBe(12.35);
  });
  it('rejects text without a number and negative numbers', () => {
    expect(parsePrice('free')).toBeNull();
    expect(parsePrice('')).toBeNull();
    expect(parsePrice(null)).toBeNull();
    expect(parsePrice(-5)).toBeNull();
  });
});

describe('currency normalisation', () => {
  it.each([
    ['€', {}, 'EUR'], ['£', {}, 'GBP'], ['zł', {}, 'PLN'], ['CHF', {}, 'CHF'], ['Fr.', {}, 'CHF'], ['eur', {}, 'EUR'],
    ['Kč', {}, 'CZK'], ['Lei', {}, 'RON'], ['₽', {}, 'RUB'], ['R$', {}, 'BRL'], ['₹', {}, 'INR'], ['ر.س', {}, 'SAR'],
    ['kr', { lang: 'sv-SE' }, 'SEK'], ['kr', { lang: 'da' }, 'DKK'], ['kr', { lang: 'nb-NO' }, 'NOK'], ['kr.', { host: 'shop.dk' }, 'DKK'],
    ['$', { lang: 'en-US' }, 'USD'], ['$', { lang: 'en-CA' }, 'CAD'], ['$', { host: 'www.bestbuy.ca', lang: 'en' }, 'CAD'],
    ['$', { lang: 'es', host: 'www.paris.cl' }, 'CLP'], ['$', { ogLocale: 'es_MX' }, 'MXN'], ['$', { lang: 'en' }, 'USD'],
    ['¥', { lang: 'ja' }, 'JPY'], ['¥', { lang: 'zh-CN' }, 'CNY'], ['Rs.', { host: 'www.olx.com.pk' }, 'PKR'], ['Rs', { lang: 'en-IN' }, 'INR'],
    ['NT$', {}, 'TWD'], ['kn', {}, 'HRK'],
  ])('%s with %j -> %s', (raw, ctx, want) => {
    expect(normalizeCurrency(raw, ctx)).toBe(want);
  });
  it('finds the marker inside a price string', () => {
    expect(symbolToIso('1.234,56 €')).toBe('EUR');
    expect(symbolToIso('USD 12')).toBe('USD');
    expect(symbolToIso('12 SALE')).toBeNull();
    expect(symbolToIso('1 199 kr', { lang: 'sv' })).toBe('SEK');
  });
  it('unknown text is not a currency', () => {
    expect(normalizeCurrency('points')).toBeNull();
    expect(normalizeCurrency('XYZ')).toBeNull();
  });
  it('falls back to the country of the page', () => {
    expect(currencyFromContext({ host: 'shop.de' })).toBe('EUR');
    expect(currencyFromContext({ lang: 'pl-PL' })).toBe('PLN');
    expect(currencyFromContext({ host: 'shop.com' })).toBeNull();
  });
});
