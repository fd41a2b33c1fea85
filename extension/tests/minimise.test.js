import { describe, it, expect } from 'vitest';
import { pathTemplate, minimiseUrl, isIdSegment, hostMatches } from '../src/lib/minimise.js';

describe('path templating and minimisation', () => {
  it.each([
    ['/dp/B07FW264WL', '/dp/{id}'],
    ['/p/kaercher-hochdruckreiniger-k-3-full-control-848068924/', '/p/{id}/'],
    ['/gb/en/p/moeckelby-table-oak-00293772/', '/gb/en/p/{id}/'],
    ['/google-nest-mini-hands-free-smart-speaker-2nd-gen/chalk/p4781720', '/{id}/chalk/{id}'],
    ['/itm/302474151804', '/itm/{id}'],
    ['/product_info.php/products_id/66868/ibiza-led8-mini.html', '/product_info.php/products_id/{id}/{id}'],
    ['/orders/3f2a9c1e-8b7d-4c1a-9e2f-123456789abc/receipt', '/orders/{id}/receipt'],
    ['/users/jane.doe@mail.example/wishlist', '/users/{id}/wishlist'],
    ['/checkout/cart/', '/checkout/cart/'],
    ['/Warenkorb', '/warenkorb'],
    ['/s', '/s'],
    ['/', '/'],
    ['/search/red%20shoes', '/search/{id}'],
    ['/a/1/2/3/4', '/a/{id}/{id}'],
    ['/v2/compare', '/v2/compare'],
  ])('%s -> %s', (path, want) => {
    expect(pathTemplate(path)).toBe(want);
  });
  it('keeps origin and path template only: no query, no fragment, no credentials', () => {
    expect(minimiseUrl('https://user:pw@shop.example:8443/p/tv-55-oled-12345?utm_source=x&session=abc#reviews'))
      .toEqual({ origin: 'https://shop.example:8443', path: '/p/{id}' });
  });
  it('refuses non-web URLs', () => {
    for (const u of ['file:///etc/passwd', 'chrome://settings', 'about:blank', 'data:text/html,x', 'not a url']) expect(minimiseUrl(u)).toBeNull();
  });
  it('recognises ids, tokens and slugs', () => {
    expect(isIdSegment('12345')).toBe(true);
    expect(isIdSegment('aGVsbG8tdG9rZW4tWFla')).toBe(true);
    expect(isIdSegment('deadbeef')).toBe(true);
    expect(isIdSegment('checkout')).toBe(false);
    expect(isIdSegment('en-gb')).toBe(false);
  });
  it('matches never-record entries on host and subdomains only', () => {
    expect(hostMatches('www.bank.example', 'bank.example')).toBe(true);
    expect(hostMatches('shop.bank.example', 'https://bank.example/login')).toBe(true);
    expect(hostMatches('notbank.example', 'bank.example')).toBe(false);
    expect(hostMatches('bank.example.evil', 'bank.example')).toBe(false);
  });
});
