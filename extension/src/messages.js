/**
 * Runtime message handlers of the background. Content scripts: capture:load / capture:hello /
 * capture:observe / capture:update (only from a tab; the tab's incognito flag is checked here). Extension pages:
 * ui:* (only from this extension's own pages).
 */

/** The analyser bundle injected into shopping pages (see src/capture/first.js). */
export const ANALYSER = 'analyser.js';

/**
 * The URL a capture message speaks for: the sender's (the document's), or the URL the content script reports when it
 * is on the same origin. A single-page app's view (history.pushState) has its own path, while Chromium's sender.url
 * stays the document's; pushState cannot change the origin, so a URL on another origin is never taken.
 */
export function pageUrl(senderUrl, reported) {
  if (!senderUrl) return reported;
  try {
    if (typeof reported === 'string' && new URL(reported).origin === new URL(senderUrl).origin) return reported;
  } catch { /* not a URL */ }
  return senderUrl;
}

function fromExtensionPage(deps, sender) {
  const base = deps.browser.runtime.getURL('');
  return !sender.tab || (sender.url && sender.url.startsWith(base));
}

/** Schedule a flush soon (an alarm survives the worker stopping; 0.5 min is Chrome's minimum). */
function flushSoon(deps) {
  deps.browser.alarms.create('iv-flush-soon', { delayInMinutes: 0.5 });
}

/** What the popup says about the page in the active tab: what was recorded there today, and whether it may be. */
async function herePage(deps, rec, tab) {
  if (!tab || !Number.isInteger(tab.id) || typeof tab.url !== 'string') return null;
  let u;
  try { u = new URL(tab.url); } catch { return null; }
  if (!/^https?:$/.test(u.protocol)) return { site: null, recordable: false, reason: 'url', recorded: [] };
  const gate = await rec.gate({ url: tab.url, incognito: !!tab.incognito });
  const recorded = (await rec.recordedHere(tab.id, tab.url)).map((e) => ({ ...e, category_name: rec.categoryName(e.category) }));
  return { site: deps.normalizeSite(u.hostname), recordable: gate.record, reason: gate.reason, recorded };
}

async function popupState(deps, tab = null) {
  const s = await deps.loadSettings();
  const rec = await deps.recorder();
  const sync = await deps.client.syncState();
  return {
    paired: !!(s.auth && s.auth.access_token),
    paused: !!s.paused,
    vault_paused: !!s.vault_settings?.paused,
    vault_url: s.vault_url,
    pairing: s.pairing ? { user_code: s.pairing.user_code, verification_uri: s.pairing.verification_uri,
      verification_uri_complete: s.pairing.verification_uri_complete, status: s.pairing.status, expires_at: s.pairing.expires_at } : null,
    never_record: s.never_record,
    opt_in_categories: s.opt_in_categories,
    vault_opt_in_categories: s.vault_settings?.opt_in_categories || [],
    today: (await rec.today()).map((e) => ({ ...e, category_name: rec.categoryName(e.category) })),
    here: await herePage(deps, rec, tab),
    queued: await deps.queue.size(),
    sync,
  };
}

/**
 * Tabs (and the URL) the analyser was injected into, so the page's first script and the background's
 * URL check do not both inject it (the analyser also refuses to start twice). Cleared per tab when a
 * new document commits (navigation.js); lost when the worker stops, which only costs a guarded re-run.
 */
export const injected = new Map();

/**
 * Inject the analyser into a tab's frame if the privacy gate allows (paused, never-record, incognito,
 * the vault's own pages). Shared by first.js's capture:load and the background's shopping-URL check.
 * @returns {Promise<boolean>} whether the analyser runs there
 */
export async function loadAnalyser(deps, { tabId, frameId = 0, url, incognito = false }, rec = null) {
  const gate = await (rec || await deps.recorder()).gate({ url, incognito });
  if (!gate || !gate.record) return false;
  if (injected.get(tabId) === url) return true;
  injected.set(tabId, url);
  try {
    await deps.browser.scripting.executeScript({ target: { tabId, frameIds: [frameId] }, files: [ANALYSER] });
  } catch (e) {
    injected.delete(tabId);
    throw e;
  }
  return true;
}

export async function handleMessage(deps, msg, sender) {
  if (!msg || typeof msg.type !== 'string') return undefined;
  const { browser } = deps;
  if (msg.type.startsWith('capture:')) {
    if (!sender.tab) return undefined;
    const url = pageUrl(sender.url || sender.tab.url, msg.url);
    const incognito = !!sender.tab.incognito;
    const rec = await deps.recorder();
    if (msg.type === 'capture:hello') return rec.gate({ url, incognito });
    if (msg.type === 'capture:load') {
      // first.js found a page that looks like shopping: load the analyser there, if the gate allows.
      return { loaded: await loadAnalyser(deps, { tabId: sender.tab.id, frameId: sender.frameId ?? 0, url, incognito }, rec) };
    }
    if (msg.type === 'capture:observe') {
      const res = await rec.record(msg.obs || {}, { url, incognito, tab: sender.tab.id });
      if (res.recorded.some((e) => !['product_view', 'compare', 'review_read', 'page_view'].includes(e.type))) flushSoon(deps);
      return { recorded: res.recorded.map((e) => ({ id: e.id, type: e.type })), dropped: res.dropped || null };
    }
    if (msg.type === 'capture:update') {
      const ok = await rec.update(msg.id, { dwell_ms: msg.dwell_ms, scroll: msg.scroll }, { final: !!msg.final });
      if (msg.final) flushSoon(deps);
      return { ok };
    }
    return undefined;
  }
  if (!msg.type.startsWith('ui:') || !fromExtensionPage(deps, sender)) return undefined;
  try {
    switch (msg.type) {
      case 'ui:state': return { ok: true, state: await popupState(deps, msg.tab) };
      case 'ui:never-record': {
        // The popup's one click: this site (and its subdomains) joins the never-record list; its queue is dropped.
        let host = '';
        try { host = new URL(msg.url).hostname; } catch { /* not a URL */ }
        const site = host ? deps.normalizeSite(host) : '';
        if (!site) return { ok: false, error: 'This page has no site to leave out' };
        const s = await deps.loadSettings();
        const never = s.never_record.includes(site) ? s.never_record : [...s.never_record, site];
        await deps.updateSettings({ never_record: never });
        const dropped = await (await deps.recorder()).forgetSite(site);
        return { ok: true, site, dropped, state: await popupState(deps, msg.tab) };
      }
      case 'ui:pause': {
        await deps.updateSettings({ paused: !!msg.paused });
        await deps.refreshBadge();
        return { ok: true, state: await popupState(deps, msg.tab) };
      }
      case 'ui:delete': {
        const rec = await deps.recorder();
        const { wasQueued } = await rec.forget(msg.id);
        let remote = 'not-needed';
        if (!wasQueued) {
          try { await deps.client.deleteGesture(msg.id); remote = 'deleted'; } catch (e) { remote = `failed: ${e.message}`; }
        }
        return { ok: true, remote, state: await popupState(deps, msg.tab) };
      }
      case 'ui:settings:save': {
        const patch = {};
        if (typeof msg.vault_url === 'string') {
          patch.vault_url = msg.vault_url.trim().replace(/\/+$/, '');
          try { new URL(patch.vault_url); } catch { return { ok: false, error: 'The vault address must be a URL (https://…)' }; }
          // Tokens belong to the vault that issued them: another address means pairing again.
          if (patch.vault_url !== (await deps.loadSettings()).vault_url) Object.assign(patch, { auth: null, pairing: null, vault_settings: null });
        }
        if (Array.isArray(msg.never_record)) patch.never_record = msg.never_record;
        if (Array.isArray(msg.opt_in_categories)) patch.opt_in_categories = msg.opt_in_categories;
        const s = await deps.updateSettings(patch);
        if (patch.never_record) { const rec = await deps.recorder(); for (const site of s.never_record) await rec.forgetSite(site); }
        return { ok: true, state: await popupState(deps, msg.tab) };
      }
      case 'ui:pair:start': {
        const p = await deps.client.startPairing(msg.vault_url);
        browser.alarms.create(deps.ALARMS.pair, { periodInMinutes: 0.5 });
        return { ok: true, pairing: { user_code: p.user_code, verification_uri: p.verification_uri, verification_uri_complete: p.verification_uri_complete, expires_at: p.expires_at, interval: p.interval } };
      }
      case 'ui:pair:poll': {
        const status = await deps.client.pollPairing();
        if (status === 'paired') {
          await browser.alarms.clear(deps.ALARMS.pair);
          await deps.client.fetchSettings().catch(() => {});
          await deps.client.flush({ force: true }).catch(() => {});
          await deps.refreshBadge();
        }
        return { ok: true, status };
      }
      case 'ui:pair:cancel': await deps.client.cancelPairing(); await browser.alarms.clear(deps.ALARMS.pair); return { ok: true };
      case 'ui:unpair': await deps.client.unpair(); await deps.refreshBadge(); return { ok: true };
      case 'ui:declare': {
        const rec = await deps.recorder();
        const value = msg.value === undefined || msg.value === '' ? undefined : Number(msg.value);
        const res = await rec.declare(msg.text, { value });
        if (res.recorded.length) flushSoon(deps);
        return { ok: res.recorded.length > 0, dropped: res.dropped || null, error: res.dropped ? `not recorded: ${res.dropped}` : undefined, state: await popupState(deps, msg.tab) };
      }
      case 'ui:queue': return { ok: true, events: (await deps.queue.all()).map((i) => i.event) };
      case 'ui:sync': {
        const res = await deps.client.flush({ force: true });
        return { ok: true, result: res, state: await popupState(deps, msg.tab) };
      }
      case 'ui:remote': {
        const s = await deps.loadSettings();
        if (!(s.auth && s.auth.access_token)) return { ok: true, signals: null, inbox: null };
        const [signals, inbox] = await Promise.all([
          deps.client.fetchSignals().catch(() => null),
          deps.client.fetchInboxSummary().catch(() => null),
          deps.client.fetchSettings().catch(() => null),
        ]);
        return { ok: true, signals, inbox };
      }
      case 'ui:terms':
      case 'ui:terms:save': {
        const s = await deps.loadSettings();
        if (!(s.auth && s.auth.access_token)) return { ok: false, code: 'unpaired', error: 'Pair with your vault to choose your terms here.' };
        try {
          if (msg.type === 'ui:terms:save') await deps.client.saveTerms(msg.agreement_id ?? null, msg.vendor_id || null);
          const terms = await deps.client.fetchTerms();
          if (!terms) return { ok: false, code: 'none', error: 'Your vault does not proffer terms (it keeps no agreement roster).' };
          return { ok: true, ...terms };
        } catch (e) {
          if (e.status === 403) return { ok: false, code: 'scope', error: 'This pairing was made before terms could be chosen here: pair again, or choose them on your vault’s terms page.' };
          return { ok: false, code: 'error', error: e.message };
        }
      }
      case 'ui:taxonomy': {
        const r = await fetch(browser.runtime.getURL('policy.json'));
        return { ok: true, policy: await r.json() };
      }
      default: return { ok: false, error: `unknown message ${msg.type}` };
    }
  } catch (e) {
    return { ok: false, error: e.message };
  }
}
