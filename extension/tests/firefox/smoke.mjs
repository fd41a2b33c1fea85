#!/usr/bin/env node
/**
 * Firefox smoke run (real Debian firefox-esr over its Marionette protocol; no geckodriver, which Debian does
 * not package): installs dist/firefox as a temporary add-on (Addon:Install), opens a shop's product page and
 * an ordinary page, then opens the extension's own popup in a tab (from the chrome context: WebDriver BiDi
 * refuses to navigate to moz-extension:// URLs) and reads what it recorded today. Proves, in Firefox itself: the manifest
 * loads (background scripts, gecko id), first.js runs, the background injects analyser.js with
 * scripting.executeScript, messages and storage work, and the product page (only) is recorded.
 *
 *   node tests/firefox/smoke.mjs --product URL --other URL [--firefox /usr/bin/firefox-esr]
 *
 * Hosts in the URLs are mapped to 127.0.0.1 by the network.dns.localDomains pref. Prints one JSON line
 * ({today: [...types], ...}) and exits 0 when the product view was recorded and nothing from the other page.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomUUID } from 'node:crypto';
import { createServer, connect } from 'node:net';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const args = process.argv.slice(2);
const opt = (name, dflt) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : dflt; };
const firefox = opt('--firefox', process.env.VAULT_E2E_FIREFOX || '/usr/bin/firefox-esr');
const productUrl = opt('--product');
const otherUrl = opt('--other');
const extDir = resolve(opt('--extension', join(root, 'dist', 'firefox')));
const GECKO_ID = 'intent-vault-extension@intent-vault.org';

function fail(msg) { console.error(`firefox smoke: ${msg}`); process.exit(1); }
if (!productUrl || !otherUrl) fail('--product URL and --other URL are required');
if (!existsSync(firefox)) fail(`${firefox} is not installed (apt-get install firefox-esr)`);
if (!existsSync(join(extDir, 'manifest.json'))) fail(`no build in ${extDir} (npm run build)`);

async function freePort() {
  return new Promise((res) => { const srv = createServer(); srv.listen(0, '127.0.0.1', () => { const { port } = srv.address(); srv.close(() => res(port)); }); });
}

const uuid = randomUUID();
const profile = mkdtempSync(join(tmpdir(), 'iv-firefox-'));
const hosts = [...new Set([productUrl, otherUrl].map((u) => new URL(u).hostname))];
const prefs = {
  // A known internal UUID, so the test can open moz-extension://UUID/popup/popup.html.
  'extensions.webextensions.uuids': JSON.stringify({ [GECKO_ID]: uuid }),
  'network.dns.localDomains': hosts.join(','),
  'network.proxy.type': 0,
  'browser.shell.checkDefaultBrowser': false,
  'datareporting.policy.dataSubmissionEnabled': false,
  'toolkit.telemetry.reportingpolicy.firstRun': false,
  'app.update.disabledForTesting': true,
  'browser.startup.homepage_override.mstone': 'ignore',
  'extensions.update.enabled': false,
  'extensions.getAddons.cache.enabled': false,
  'dom.security.https_first': false,
  'remote.prefs.recommended': true,
  'devtools.console.stdout.content': true,
  'marionette.port': await freePort(),
};
writeFileSync(join(profile, 'user.js'), Object.entries(prefs).map(([k, v]) => `user_pref(${JSON.stringify(k)}, ${JSON.stringify(v)});`).join('\n'));

const proc = spawn(firefox, ['--headless', '--no-remote', '--profile', profile, '--marionette', '-remote-allow-system-access'], { stdio: ['ignore', 'pipe', 'pipe'] });
let log = '';
proc.stdout.on('data', (d) => { log += d; });
proc.stderr.on('data', (d) => { log += d; });
const killAll = () => { try { proc.kill('SIGTERM'); } catch { /* gone */ } };
const timer = setTimeout(() => { killAll(); fail(`timed out; firefox said:\n${log.slice(-3000)}`); }, 150_000);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Marionette: "<length>:<json>" frames; commands [0, id, name, params], answers [1, id, error, result]. */
async function marionette(port) {
  let sock;
  for (let i = 0; i < 100 && !sock; i++) {
    sock = await new Promise((res) => { const s = connect(port, '127.0.0.1', () => res(s)); s.on('error', () => res(null)); });
    if (!sock) await sleep(200);
  }
  if (!sock) throw new Error(`marionette did not listen on ${port}:\n${log.slice(-2000)}`);
  let buf = Buffer.alloc(0);
  const frames = [];
  let wake = null;
  sock.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    for (;;) {
      const colon = buf.indexOf(':');
      if (colon < 0) break;
      const len = Number(buf.subarray(0, colon).toString());
      if (buf.length < colon + 1 + len) break;
      frames.push(JSON.parse(buf.subarray(colon + 1, colon + 1 + len).toString()));
      buf = buf.subarray(colon + 1 + len);
      if (wake) { wake(); wake = null; }
    }
  });
  const next = async () => { while (!frames.length) await new Promise((r) => { wake = r; }); return frames.shift(); };
  await next(); // the server's hello
  let id = 0;
  return {
    async send(name, params = {}) {
      const msg = JSON.stringify([0, ++id, name, params]);
      sock.write(`${Buffer.byteLength(msg)}:${msg}`);
      for (;;) {
        const [type, rid, error, result] = await next();
        if (type === 1 && rid === id) { if (error) throw new Error(`${name}: ${error.error}: ${error.message}`); return result; }
      }
    },
    close() { sock.destroy(); },
  };
}

let result;
let m;
try {
  m = await marionette(prefs['marionette.port']);
  await m.send('WebDriver:NewSession', { capabilities: {} });
  const installed = await m.send('Addon:Install', { path: extDir, temporary: true });
  const go = (url) => m.send('WebDriver:Navigate', { url });
  const evaluate = async (script) => (await m.send('WebDriver:ExecuteScript', { script, args: [] })).value;
  const popup = `moz-extension://${uuid}/popup/popup.html`;
  const openPopup = async () => {
    // Extension pages cannot be navigated to from content: open the tab from the browser chrome.
    await m.send('Marionette:SetContext', { value: 'chrome' });
    await m.send('WebDriver:ExecuteScript', { script: `gBrowser.selectedTab = gBrowser.addTab(${JSON.stringify(popup)}, { triggeringPrincipal: Services.scriptSecurityManager.getSystemPrincipal() });`, args: [] });
    await m.send('Marionette:SetContext', { value: 'content' });
    const handles = await m.send('WebDriver:GetWindowHandles');
    await m.send('WebDriver:SwitchToWindow', { handle: handles.at(-1) });
    await sleep(500);
  };
  // Firefox treats MV3 host permissions as optional: grant them as a person does when asked.
  await m.send('Marionette:SetContext', { value: 'chrome' });
  await m.send('WebDriver:ExecuteAsyncScript', { script: `const done = arguments[arguments.length - 1];
    const { ExtensionPermissions } = ChromeUtils.importESModule('resource://gre/modules/ExtensionPermissions.sys.mjs');
    const ext = WebExtensionPolicy.getByID(${JSON.stringify(GECKO_ID)}).extension;
    ExtensionPermissions.add(${JSON.stringify(GECKO_ID)}, { permissions: [], origins: ['http://*/*', 'https://*/*'] }, ext).then(() => done(true), (e) => done(String(e)));`, args: [] });
  await m.send('Marionette:SetContext', { value: 'content' });
  await sleep(1000); // the background starts
  await go(productUrl);
  const product = await evaluate('return document.readyState');
  await sleep(3000); // document_idle, the first look, the analyser injected, the observation sent
  await go(otherUrl);
  await sleep(3000);
  await openPopup();
  let today = [];
  for (let i = 0; i < 30; i++) {
    today = JSON.parse(await evaluate('return JSON.stringify([...document.querySelectorAll("[data-testid=today-item]")].map((e) => e.dataset.type))') || '[]');
    if (today.length) break;
    await sleep(300);
  }
  const paired = await evaluate('return document.querySelector("[data-testid=pair-status]")?.textContent || null');
  result = { popup: paired, extension: installed.id || installed, firefox: (await m.send('WebDriver:GetCapabilities').catch(() => ({})))?.capabilities?.browserVersion || null, product_page: product, today };
} catch (e) {
  result = { error: e.message };
} finally {
  clearTimeout(timer);
  try { await m?.send('WebDriver:DeleteSession'); } catch { /* closing */ }
  m?.close();
  killAll();
  await new Promise((r) => { proc.once('exit', r); setTimeout(r, 5000); });
  rmSync(profile, { recursive: true, force: true });
}
console.log(JSON.stringify(result));
const ok = !result.error && result.today.filter((t) => t === 'product_view').length === 1
  && result.today.every((t) => t === 'product_view');
process.exit(ok ? 0 : 1);
