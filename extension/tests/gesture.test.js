import { describe, it, expect } from 'vitest';
import { buildGesture, validateGesture, uuid, rfc3339, GESTURE_TYPES } from '../src/gesture.js';

describe('gesture shape', () => {
  it('builds exactly the documented fields', () => {
    const ev = buildGesture({ type: 'product_view', dwell_ms: 1200, scroll: 0.456, product: { name: ' TV  55 ', price: 499, currency: 'EUR', brand: '', extra: 'x' }, breadcrumbs: ['x'], cart: true },
      'https://shop.example/p/tv-55-1234?utm=x', { now: Date.UTC(2026, 0, 2, 3, 4, 5, 6), id: uuid(), category: 'electronics.tv' });
    expect(Object.keys(ev)).toEqual(['id', 'type', 'ts', 'category', 'origin', 'path', 'dwell_ms', 'scroll', 'product']);
    expect(ev).toMatchObject({ ts: '2026-01-02T03:04:05.006Z', origin: 'https://shop.example', path: '/p/{id}', scroll: 0.46, product: { name: 'TV 55', price: 499, currency: 'EUR' } });
    expect(ev.product).not.toHaveProperty('extra');
    expect(ev.product).not.toHaveProperty('brand');
    expect(validateGesture(ev)).toEqual([]);
  });
  it('drops invalid values rather than sending them', () => {
    const ev = buildGesture({ type: 'purchase', value: -3, scroll: 3, dwell_ms: 1.5, product: { currency: 'euro', price: 'NaN' } }, 'https://s.example/');
    expect(ev).not.toHaveProperty('value');
    expect(ev).not.toHaveProperty('scroll');
    expect(ev).not.toHaveProperty('dwell_ms');
    expect(ev).not.toHaveProperty('product');
  });
  it('refuses unknown types and non-web pages', () => {
    expect(buildGesture({ type: 'keylog' }, 'https://s.example/')).toBeNull();
    expect(buildGesture({ type: 'search' }, 'chrome://history')).toBeNull();
  });
  it('validation catches a wrong shape', () => {
    expect(validateGesture({ id: 'x', type: 'nope', ts: 'yesterday', origin: 'https://a.example/path', path: '/a?b=1', url: 'x' }))
      .toEqual(expect.arrayContaining(['unexpected field url', 'id', 'type', 'ts', 'origin', 'path']));
  });
  it('uuid v4 and RFC 3339 UTC', () => {
    expect(uuid()).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(rfc3339(0)).toBe('1970-01-01T00:00:00.000Z');
    expect(GESTURE_TYPES).toHaveLength(18);
  });
});
