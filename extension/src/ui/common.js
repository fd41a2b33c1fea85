/** Helpers for the popup and options pages. Everything is rendered with textContent, never HTML. */
import browser from 'webextension-polyfill';

export async function send(type, payload = {}) {
  try {
    return await browser.runtime.sendMessage({ type, ...payload });
  } catch (e) {
    return { ok: false, error: e.message };
  }
}

/** Create an element with attributes and text (text is never parsed as HTML). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'text') el.textContent = String(v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

export function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); }

export const byId = (id) => document.getElementById(id);

export function timeOf(ts) {
  try { return new Date(ts).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }); } catch { return ''; }
}
