#!/usr/bin/env node
/**
 * npm run build: bundles the ES module sources with esbuild and writes dist/chrome/ and
 * dist/firefox/ from one MV3 source (src/manifest.base.json) plus per-browser differences, compiles
 * ../policies/*.yaml into policy.json, draws the icons, and zips both trees.
 *
 *   node scripts/build.mjs [--policies DIR] [--vault-css FILE] [--out DIR] [--no-zip]
 */
import { mkdirSync, rmSync, writeFileSync, readFileSync, copyFileSync, readdirSync, statSync, existsSync } from 'node:fs';
import { dirname, join, resolve, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateSync } from 'node:zlib';
import { build } from 'esbuild';
import { zipSync } from 'fflate';
import { loadPolicy } from './policy.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = (name, dflt) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : dflt; };
const policiesDir = resolve(opt('--policies', process.env.INTENT_VAULT_POLICIES || join(root, '..', 'policies')));
// The vault's own stylesheet: the popup and options page look like the vault's pages (one source of truth).
export const VAULT_CSS = join(root, '..', 'vault_server', 'web', 'static', 'vault.css');
const vaultCss = resolve(opt('--vault-css', VAULT_CSS));
const outDir = resolve(opt('--out', join(root, 'dist')));
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

export const GECKO_ID = 'intent-vault-extension@intent-vault.org';

export function manifestFor(browserName, base, version) {
  const m = { ...structuredClone(base), version };
  if (browserName === 'chrome') {
    m.background = { service_worker: 'background.js', type: 'module' };
    m.minimum_chrome_version = '116';
  } else {
    m.background = { scripts: ['background.js'] };
    m.browser_specific_settings = {
      gecko: {
        id: GECKO_ID,
        strict_min_version: '142.0',
        data_collection_permissions: { required: ['browsingActivity', 'searchTerms'] },
      },
    };
  }
  return m;
}

// ---- icons: a small PNG encoder (RGBA, no dependencies) ----
const CRC = new Int32Array(256).map((_, n) => { let c = n; for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1; return c; });
function crc32(buf) { let c = -1; for (const b of buf) c = CRC[(c ^ b) & 0xff] ^ (c >>> 8); return (c ^ -1) >>> 0; }
function chunk(type, data) {
  const len = Buffer.alloc(4); len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type), data]);
  const crc = Buffer.alloc(4); crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}
export function iconPng(size) {
  const raw = Buffer.alloc((size * 4 + 1) * size);
  const r = size / 2;
  for (let y = 0; y < size; y++) {
    raw[y * (size * 4 + 1)] = 0;
    for (let x = 0; x < size; x++) {
      const dx = x + 0.5 - r; const dy = y + 0.5 - r;
      const inCircle = dx * dx + dy * dy <= r * r;
      // A vault door: blue disc with a white ring and hub.
      const d = Math.sqrt(dx * dx + dy * dy) / r;
      const white = inCircle && ((d > 0.55 && d < 0.7) || d < 0.18);
      const o = y * (size * 4 + 1) + 1 + x * 4;
      raw[o] = white ? 255 : 10; raw[o + 1] = white ? 255 : 102; raw[o + 2] = white ? 255 : 194; raw[o + 3] = inCircle ? 255 : 0;
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0); ihdr.writeUInt32BE(size, 4); ihdr[8] = 8; ihdr[9] = 6; ihdr[10] = 0; ihdr[11] = 0; ihdr[12] = 0;
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

function listFiles(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...listFiles(p)); else out.push(p);
  }
  return out.sort();
}

function zipDir(dir, file) {
  const entries = {};
  for (const p of listFiles(dir)) entries[relative(dir, p).split('\\').join('/')] = [readFileSync(p), { mtime: new Date('2020-01-01T00:00:00Z') }];
  writeFileSync(file, zipSync(entries, { level: 9 }));
}

async function buildBrowser(browserName, policy) {
  const dir = join(outDir, browserName);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const common = { bundle: true, target: browserName === 'chrome' ? 'chrome116' : 'firefox115', logLevel: 'warning', legalComments: 'none', charset: 'utf8' };
  // Content script and extension pages: classic scripts (IIFE). Background: ESM for the Chrome
  // module service worker, IIFE for Firefox's background.scripts.
  // Content scripts: first.js (every page, small) and analyser.js (injected only into shopping pages).
  await build({ ...common, format: 'iife', minify: true, entryPoints: { first: join(root, 'src/capture/first.js') }, outdir: dir });
  await build({ ...common, format: 'iife', entryPoints: { analyser: join(root, 'src/capture/index.js') }, outdir: dir });
  await build({ ...common, format: 'iife', entryPoints: { 'popup/popup': join(root, 'src/popup/popup.js'), 'options/options': join(root, 'src/options/options.js') }, outdir: dir });
  await build({ ...common, format: browserName === 'chrome' ? 'esm' : 'iife', entryPoints: { background: join(root, 'src/background.js') }, outdir: dir });
  for (const page of ['popup/popup.html', 'options/options.html', 'ui/ui.css']) {
    mkdirSync(dirname(join(dir, page)), { recursive: true });
    copyFileSync(join(root, 'src', page), join(dir, page));
  }
  copyFileSync(vaultCss, join(dir, 'ui', 'vault.css'));
  mkdirSync(join(dir, 'icons'), { recursive: true });
  for (const size of [16, 32, 48, 128]) writeFileSync(join(dir, 'icons', `icon-${size}.png`), iconPng(size));
  writeFileSync(join(dir, 'policy.json'), JSON.stringify(policy));
  const base = JSON.parse(readFileSync(join(root, 'src/manifest.base.json'), 'utf8'));
  writeFileSync(join(dir, 'manifest.json'), `${JSON.stringify(manifestFor(browserName, base, pkg.version), null, 2)}\n`);
  return dir;
}

async function main() {
  const policy = loadPolicy(policiesDir);
  if (!existsSync(vaultCss)) throw new Error(`the vault's stylesheet is missing: ${vaultCss} (--vault-css FILE)`);
  mkdirSync(outDir, { recursive: true });
  for (const b of ['chrome', 'firefox']) {
    const dir = await buildBrowser(b, policy);
    if (!args.includes('--no-zip')) zipDir(dir, join(outDir, `intent-vault-${b}-${pkg.version}.zip`));
  }
  console.log(`built ${relative(process.cwd(), outDir) || '.'}/{chrome,firefox} from ${policiesDir} (${policy.categories.length} categories, ${policy.sensitive.length} sensitive roots, taxonomy ${policy.version})`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e) => { console.error(e.message); process.exit(1); });
}
