import { describe, it, expect, beforeAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync, writeFileSync, mkdirSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadPolicy, PolicyError } from '../scripts/policy.mjs';
import { manifestFor, iconPng, GECKO_ID } from '../scripts/build.mjs';
import { POLICIES } from './helpers/dom.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

describe('policy compilation', () => {
  it('reads the taxonomy shape, sensitive roots and gesture list', () => {
    const p = loadPolicy(POLICIES);
    expect(p.version).toBe('test.1');
    expect(p.categories.find((c) => c.id === 'electronics.tv')).toMatchObject({ parent: 'electronics', name: 'Televisions',
      keywords: ['tv', 'television', 'oled tv'], google_product_category: ['Electronics > Video > Televisions'] });
    expect(p.sensitive).toEqual(['health']);
    expect(p.gestures).toContain('cart_abandon');
  });
  function brokenDir(files) {
    const dir = mkdtempSync(join(tmpdir(), 'iv-policy-'));
    for (const f of ['taxonomy.yaml', 'sensitive.yaml', 'gestures.yaml']) copyFileSync(join(POLICIES, f), join(dir, f));
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
    return dir;
  }
  it.each([
    [{ 'taxonomy.yaml': 'categories:\n  - id: a\n    parent: nope\n    name: A\n' }, /unknown parent/],
    [{ 'taxonomy.yaml': 'categories:\n  - id: a\n    parent: null\n  - id: a\n    parent: null\n' }, /duplicate/],
    [{ 'sensitive.yaml': 'categories:\n  - id: missing\n' }, /unknown category missing/],
    [{ 'gestures.yaml': 'gestures:\n  - type: search\n' }, /not in the policy/],
    [{ 'taxonomy.yaml': 'categories: [' }, /taxonomy.yaml/],
  ])('rejects %j', (files, re) => {
    expect(() => loadPolicy(brokenDir(files))).toThrow(re);
    expect(() => loadPolicy(brokenDir(files))).toThrow(PolicyError);
  });
});

describe('manifests', () => {
  const base = JSON.parse(readFileSync(join(root, 'src/manifest.base.json'), 'utf8'));
  it('Chrome: module service worker, no gecko settings', () => {
    const m = manifestFor('chrome', base, '1.2.3');
    expect(m.background).toEqual({ service_worker: 'background.js', type: 'module' });
    expect(m.browser_specific_settings).toBeUndefined();
    expect(m.version).toBe('1.2.3');
    expect(m.manifest_version).toBe(3);
  });
  it('Firefox: background.scripts and a gecko id', () => {
    const m = manifestFor('firefox', base, '1.2.3');
    expect(m.background).toEqual({ scripts: ['background.js'] });
    expect(m.browser_specific_settings.gecko.id).toBe(GECKO_ID);
  });
  it('never runs in incognito and asks only for storage, alarms, scripting and webNavigation', () => {
    expect(base.incognito).toBe('not_allowed');
    expect([...base.permissions].sort()).toEqual(['alarms', 'scripting', 'storage', 'webNavigation']);
  });
  it('puts only the small first script into every page; the analyser is injected on demand', () => {
    expect(base.content_scripts.map((c) => c.js)).toEqual([['first.js']]);
    expect(base.web_accessible_resources).toBeUndefined();
  });
  it('extension pages run only their own scripts and styles (strict CSP, no inline script or style)', () => {
    const csp = base.content_security_policy.extension_pages;
    expect(csp.split(';').map((d) => d.trim())).toEqual(expect.arrayContaining(["script-src 'self'", "object-src 'none'", "style-src 'self'", "base-uri 'none'"]));
    expect(csp).not.toMatch(/unsafe|\*/);
  });
  it('draws valid PNG icons', () => {
    const png = iconPng(16);
    expect([...png.subarray(0, 8)]).toEqual([137, 80, 78, 71, 13, 10, 26, 10]);
    expect(png.readUInt32BE(16)).toBe(16);
  });
});

describe('npm run build', () => {
  let out;
  beforeAll(() => {
    out = mkdtempSync(join(tmpdir(), 'iv-build-'));
    execFileSync(process.execPath, [join(root, 'scripts/build.mjs'), '--policies', POLICIES, '--out', out], { cwd: root, stdio: 'pipe' });
  }, 60_000);
  it('writes both browser trees, zips, and the compiled policy from the YAML', () => {
    for (const b of ['chrome', 'firefox']) {
      for (const f of ['manifest.json', 'background.js', 'first.js', 'analyser.js', 'popup/popup.html', 'popup/popup.js', 'options/options.html', 'options/options.js', 'policy.json', 'icons/icon-128.png']) {
        expect(existsSync(join(out, b, f)), `${b}/${f}`).toBe(true);
      }
      expect(JSON.parse(readFileSync(join(out, b, 'policy.json'), 'utf8'))).toEqual(loadPolicy(POLICIES));
      expect(existsSync(join(out, `intent-vault-${b}-${JSON.parse(readFileSync(join(root, 'package.json'))).version}.zip`))).toBe(true);
    }
    expect(JSON.parse(readFileSync(join(out, 'firefox/manifest.json'), 'utf8')).background.scripts).toEqual(['background.js']);
    expect(JSON.parse(readFileSync(join(out, 'chrome/manifest.json'), 'utf8')).background.type).toBe('module');
  });
  it('the content scripts are classic scripts (no import statements) and the Chrome worker is a module', () => {
    for (const f of ['first.js', 'analyser.js']) expect(readFileSync(join(out, 'chrome', f), 'utf8')).not.toMatch(/^\s*import\s/m);
    expect(readFileSync(join(out, 'firefox/background.js'), 'utf8')).not.toMatch(/^\s*(import|export)\s/m);
  });
  it("the popup and options pages wear the vault's own stylesheet, copied at build time", () => {
    for (const b of ['chrome', 'firefox']) {
      expect(readFileSync(join(out, b, 'ui/vault.css'), 'utf8')).toBe(readFileSync(join(root, '..', 'vault_server/web/static/vault.css'), 'utf8'));
      expect(existsSync(join(out, b, 'ui/ui.css'))).toBe(true);
    }
  });
  it('the first script stays small: the page half of the probe, no URL patterns, no extractors', () => {
    const first = readFileSync(join(out, 'chrome/first.js'), 'utf8');
    expect(first.length).toBeLessThan(8_000);
    expect(first).not.toContain('extractJsonLd');
    expect(first).not.toContain('thankyou'); // purchase URL words: matched in the background
    expect(first).not.toContain('wishlist'); // only the add-to-cart phrases of action-patterns.json
    expect(readFileSync(join(out, 'chrome/background.js'), 'utf8')).toContain('thankyou');
    expect(readFileSync(join(out, 'chrome/analyser.js'), 'utf8').length).toBeGreaterThan(4 * first.length);
  });
});
