import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { JSDOM, VirtualConsole } from 'jsdom';

export const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');
export const POLICIES = join(FIXTURES, 'policies');

/** Parse a saved fixture page at a URL (scripts are never executed: jsdom default). */
export function loadPage(name, url = 'https://shop.example/p/item-12345') {
  const html = readFileSync(join(FIXTURES, 'pages', name), 'utf8');
  return fromHtml(html, url);
}

export function fromHtml(html, url = 'https://shop.example/') {
  const dom = new JSDOM(html, { url, virtualConsole: new VirtualConsole() });
  return { dom, doc: dom.window.document, window: dom.window, url };
}
