import { describe, it, expect, beforeAll } from 'vitest';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadPolicy } from '../scripts/policy.mjs';
import { compileTaxonomy, classify, sensitiveRootOf, normalizeText } from '../src/classify.js';
import { POLICIES } from './helpers/dom.js';

let tax;
beforeAll(() => { tax = compileTaxonomy(loadPolicy(POLICIES)); });

describe('classify (fixture taxonomy)', () => {
  it.each([
    [{ name: 'LG OLED TV 65 inch' }, 'electronics.tv'],
    [{ name: 'Samsung Fernseher 55 Zoll' }, 'electronics.tv'],
    [{ query: 'téléviseur 4k' }, 'electronics.tv'],
    [{ category_hint: 'Electronics > Video > Televisions', name: 'Model X' }, 'electronics.tv'],
    [{ name: 'Ekspres do kawy Kafeo 2000' }, 'home.kitchen'],
    [{ name: 'KÄRCHER Hochdruckreiniger K 3' }, 'tools'],
    [{ name: 'Siemens Kaffeevollautomat EQ.6' }, 'home.kitchen'],
    [{ category_hint: 'Furniture > Tables > Dining Tables', name: 'Hallby' }, 'home.furniture'],
    [{ query: 'zapatillas running' }, 'sports.shoes'],
    [{ name: 'Oak tables, set of 2' }, 'home.furniture'],
    [{ category_hint: 'Werkzeug > Küche > Stavmixer', name: 'Turbo 800' }, 'home.kitchen'],
  ])('%j -> %s', (input, want) => {
    expect(classify(tax, input)?.id).toBe(want);
  });
  it('brand words do not classify ("Table Mountain" is not furniture)', () => {
    expect(classify(tax, { name: 'Table Mountain Gin 0.7l', brand: 'Table Mountain' })).toBeNull();
    expect(classify(tax, { name: 'Table Mountain Gin 0.7l' })?.id).toBe('home.furniture');
  });
  it('returns null when nothing matches', () => {
    expect(classify(tax, { name: 'Gift card' })).toBeNull();
    expect(classify(tax, {})).toBeNull();
  });
  it('is deterministic', () => {
    const a = classify(tax, { name: 'tv table' });
    for (let i = 0; i < 5; i++) expect(classify(tax, { name: 'tv table' })).toEqual(a);
  });
  it('knows sensitive roots from sensitive.yaml, including descendants', () => {
    expect(classify(tax, { query: 'schwangerschaftstest' })?.id).toBe('health.pharmacy');
    expect(sensitiveRootOf(tax, 'health.pharmacy')).toBe('health');
    expect(sensitiveRootOf(tax, 'electronics.tv')).toBeNull();
  });
  it('folds accents and punctuation', () => {
    expect(normalizeText('Téléviseur, 4K!')).toBe(' televiseur 4k ');
  });
});

const REAL = join(POLICIES, '..', '..', '..', '..', 'policies');
describe.runIf(existsSync(join(REAL, 'taxonomy.yaml')))('classify (the vault\'s policies/taxonomy.yaml)', () => {
  it('builds and classifies common products', () => {
    const real = compileTaxonomy(loadPolicy(REAL));
    expect(real.byId.size).toBeGreaterThan(20);
    expect(classify(real, { name: 'Samsung 65" QLED Smart TV' })?.id).toMatch(/^electronics\b/);
    expect(classify(real, { query: 'kopfhörer noise cancelling' })?.id).toMatch(/^electronics\b/);
    expect(real.sensitiveRoots.has('health')).toBe(true);
  });
});
