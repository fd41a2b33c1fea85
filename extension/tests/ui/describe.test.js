import { describe, it, expect } from 'vitest';
import { describeGesture, byCategory, pairingText, formatAmount, stageIndex, categoryLabel } from '../../src/ui/describe.js';

describe('plain words for recorded gestures', () => {
  it('a product view with name, brand and price', () => {
    expect(describeGesture({ type: 'product_view', label: '65-inch TV', brand: 'Samsung', price: 899, currency: 'EUR' }, 'en')).toBe('product view: 65-inch TV, Samsung, 899 EUR');
  });
  it('a brand already in the name is not repeated; cents are kept; a value without currency', () => {
    expect(describeGesture({ type: 'product_view', label: 'Samsung QE65 TV', brand: 'Samsung', price: 1299.5, currency: 'EUR' }, 'en')).toBe('product view: Samsung QE65 TV, 1,299.50 EUR');
    expect(describeGesture({ type: 'checkout_start', value: 120 }, 'en')).toBe('checkout: 120');
    expect(describeGesture({ type: 'search', label: 'oled tv' })).toBe('search: oled tv');
    expect(describeGesture({ type: 'cart_abandon' })).toBe('cart left');
    expect(describeGesture({ type: 'page_view', value: 1099 }, 'en')).toBe('cart: 1,099');
    expect(describeGesture({ type: 'page_view', label: 'Televisions' })).toBe('page visit: Televisions');
    expect(describeGesture({ type: 'some_new_type' })).toBe('some new type');
  });
  it('amounts in the given locale', () => {
    expect(formatAmount(2449, 'EUR', 'de')).toBe('2.449 EUR');
    expect(formatAmount(Number.NaN, 'EUR')).toBe('');
  });
  it('groups by category name, in order of the most recent gesture', () => {
    const today = [{ id: 1, category: 'electronics.tv', category_name: 'Televisions' }, { id: 2, category: null }, { id: 3, category: 'electronics.tv', category_name: 'Televisions' }, { id: 4, category: 'home.garden-tools' }];
    expect(byCategory(today).map((g) => [g.name, g.items.map((e) => e.id)])).toEqual([['Televisions', [1, 3]], ['unclassified', [2]], ['garden tools', [4]]]);
    expect(categoryLabel({})).toBe('unclassified');
  });
  it('stages and pairing state', () => {
    expect(stageIndex('Action')).toBe(3);
    expect(stageIndex('unknown')).toBe(-1);
    expect(pairingText({ paired: true, vault_url: 'https://vault.example' })).toBe('Paired with https://vault.example');
    expect(pairingText({ paired: false, pairing: { user_code: 'WDJB-MJHT' }, vault_url: 'https://vault.example' })).toBe('Pairing with https://vault.example: enter code WDJB-MJHT');
    expect(pairingText({ paired: false, vault_url: '' })).toBe('Not paired');
  });
});
