/**
 * Talking to the vault: gesture batches (POST /v1/gestures), pairing with the OAuth 2.0 device
 * authorization grant (RFC 8628), token refresh (RFC 6749 section 6), settings, signals, inbox
 * summary and deletion. Retries use exponential backoff whose state lives in storage, so a
 * chrome.alarms wake-up after a service-worker restart resumes where it stopped.
 */
import { loadSettings, updateSettings, isPaired } from './settings.js';
import { MAX_BATCH } from './queue.js';

export const CLIENT_ID = 'intent-vault-extension';
export const SCOPE = 'gestures:write signals:read:self terms:self';
/** What a vault from before terms:self grants: pairing falls back to it on invalid_scope (terms stay on its pages). */
export const BASE_SCOPE = 'gestures:write signals:read:self';
export const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
export const SYNC_KEY = 'sync_state';
export const LOG_KEY = 'sync_log';
export const BACKOFF_MIN_MS = 30_000;
export const BACKOFF_MAX_MS = 60 * 60_000;

export class VaultError extends Error {
  constructor(message, { status = 0, code = '' } = {}) { super(message); this.status = status; this.code = code; }
}

const base = (url) => String(url || '').replace(/\/+$/, '');
const form = (obj) => new URLSearchParams(obj).toString();

export class VaultClient {
  /**
   * @param {{storage: object, queue?: import('./queue.js').Queue, fetch?: typeof fetch, now?: () => number, random?: () => number}} deps
   */
  constructor({ storage, queue, fetch: f = globalThis.fetch?.bind(globalThis), now = () => Date.now(), random = Math.random }) {
    this.storage = storage;
    this.queue = queue;
    this.fetch = f;
    this.now = now;
    this.random = random;
    this._flushing = null;
    this._refreshing = null;
  }

  // ---------- tokens ----------

  async _tokenRequest(vaultUrl, body) {
    let res;
    try {
      res = await this.fetch(`${base(vaultUrl)}/oauth/token`, {
        method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' }, body: form(body),
      });
    } catch (e) {
      throw new VaultError(`vault unreachable: ${e.message}`, { code: 'network' });
    }
    let data = {};
    try { data = await res.json(); } catch { data = {}; }
    return { res, data };
  }

  _authFrom(data, previous) {
    return {
      access_token: data.access_token,
      refresh_token: data.refresh_token || previous?.refresh_token || null,
      token_type: data.token_type || 'Bearer',
      scope: data.scope || previous?.scope || SCOPE,
      expires_at: data.expires_in ? this.now() + Number(data.expires_in) * 1000 : 0,
    };
  }

  /** Refresh the access token (refresh tokens rotate: the new one replaces the old). */
  async refresh() {
    if (this._refreshing) return this._refreshing;
    this._refreshing = (async () => {
      const s = await loadSettings(this.storage);
      if (!s.auth?.refresh_token) throw new VaultError('not paired', { status: 401, code: 'unpaired' });
      const { res, data } = await this._tokenRequest(s.vault_url, {
        grant_type: 'refresh_token', refresh_token: s.auth.refresh_token, client_id: CLIENT_ID,
      });
      if (res.ok && data.access_token) {
        await updateSettings(this.storage, { auth: this._authFrom(data, s.auth) });
        return true;
      }
      if (res.status >= 400 && res.status < 500) {
        // invalid_grant: the grant was revoked or the token reused; pairing must start again.
        await updateSettings(this.storage, { auth: null });
        throw new VaultError(`refresh refused: ${data.error || res.status}`, { status: 401, code: data.error || 'invalid_grant' });
      }
      throw new VaultError(`refresh failed: ${res.status}`, { status: res.status, code: 'server' });
    })();
    try { return await this._refreshing; } finally { this._refreshing = null; }
  }

  /** fetch with the bearer token; refreshes once on 401 or an expired token. */
  async authed(path, init = {}) {
    let s = await loadSettings(this.storage);
    if (!isPaired(s)) throw new VaultError('not paired', { status: 401, code: 'unpaired' });
    if (s.auth.expires_at && s.auth.expires_at - 30_000 < this.now() && s.auth.refresh_token) {
      await this.refresh();
      s = await loadSettings(this.storage);
    }
    const call = (token) => this.fetch(`${base(s.vault_url)}${path}`, {
      ...init, headers: { Accept: 'application/json', ...(init.headers || {}), Authorization: `Bearer ${token}` },
    });
    let res;
    try { res = await call(s.auth.access_token); } catch (e) { throw new VaultError(`vault unreachable: ${e.message}`, { code: 'network' }); }
    if (res.status === 401 && s.auth.refresh_token) {
      await this.refresh();
      s = await loadSettings(this.storage);
      try { res = await call(s.auth.access_token); } catch (e) { throw new VaultError(`vault unreachable: ${e.message}`, { code: 'network' }); }
    }
    return res;
  }

  // ---------- gesture batches ----------

  async syncState() {
    const got = await this.storage.get(SYNC_KEY);
    return { backoff_ms: 0, next_attempt_at: 0, last_success_at: 0, last_error: null, ...(got[SYNC_KEY] || {}) };
  }

  async _setSyncState(patch) {
    const next = { ...(await this.syncState()), ...patch };
    await this.storage.set({ [SYNC_KEY]: next });
    return next;
  }

  async _log(entries) {
    const got = await this.storage.get(LOG_KEY);
    const log = [...(got[LOG_KEY] || []), ...entries].slice(-100);
    await this.storage.set({ [LOG_KEY]: log });
  }

  async _backoff(error) {
    const st = await this.syncState();
    const backoff = Math.min(BACKOFF_MAX_MS, st.backoff_ms ? st.backoff_ms * 2 : BACKOFF_MIN_MS);
    const jitter = Math.floor(backoff * 0.1 * this.random());
    return this._setSyncState({ backoff_ms: backoff, next_attempt_at: this.now() + backoff + jitter, last_error: String(error) });
  }

  /**
   * Send ready events in batches of at most 100. Only one flush runs at a time; events leave the
   * queue only when the vault answered for their id (accepted, duplicate or rejected).
   * @returns {Promise<{sent: number, accepted: number, duplicate: number, rejected: number, status: string}>}
   */
  flush({ force = false, maxBatches = 20 } = {}) {
    if (this._flushing) return this._flushing;
    this._flushing = this._flush({ force, maxBatches }).finally(() => { this._flushing = null; });
    return this._flushing;
  }

  async _flush({ force, maxBatches }) {
    const out = { sent: 0, accepted: 0, duplicate: 0, rejected: 0, status: 'idle' };
    const s = await loadSettings(this.storage);
    if (!isPaired(s)) return { ...out, status: 'unpaired' };
    const st = await this.syncState();
    if (!force && st.next_attempt_at > this.now()) return { ...out, status: 'backoff' };
    for (let n = 0; n < maxBatches; n++) {
      const batch = await this.queue.ready(this.now(), MAX_BATCH);
      if (!batch.length) break;
      let res;
      try {
        res = await this.authed('/v1/gestures', {
          method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ events: batch }),
        });
      } catch (e) {
        await this.queue.markAttempt(batch.map((e2) => e2.id));
        if (e.code === 'unpaired' || e.status === 401) return { ...out, status: 'unpaired' };
        await this._backoff(e.message);
        return { ...out, status: 'offline' };
      }
      if (res.status >= 500 || res.status === 429 || res.status === 408) {
        await this.queue.markAttempt(batch.map((e) => e.id));
        await this._backoff(`HTTP ${res.status}`);
        return { ...out, status: 'retry' };
      }
      if (!res.ok) {
        // A 4xx for the whole batch (bad request, token refused): keep the events, wait, report.
        await this.queue.markAttempt(batch.map((e) => e.id));
        await this._backoff(`HTTP ${res.status}`);
        return { ...out, status: res.status === 401 || res.status === 403 ? 'unauthorized' : 'error' };
      }
      let data;
      try { data = await res.json(); } catch { data = null; }
      const results = Array.isArray(data?.results) ? data.results : [];
      const sentIds = new Set(batch.map((e) => e.id));
      const done = [];
      const rejected = [];
      for (const r of results) {
        if (!r || !sentIds.has(r.id)) continue;
        if (r.status === 'accepted') out.accepted++;
        else if (r.status === 'duplicate') out.duplicate++;
        else if (r.status === 'rejected') { out.rejected++; rejected.push({ id: r.id, reason: r.reason || '', at: new Date(this.now()).toISOString() }); } else continue;
        done.push(r.id);
      }
      out.sent += batch.length;
      await this.queue.remove(done);
      if (rejected.length) {
        await this._log(rejected);
        for (const r of rejected) console.warn('[intent-vault] gesture rejected by vault', r.id, r.reason);
      }
      await this._setSyncState({ backoff_ms: 0, next_attempt_at: 0, last_success_at: this.now(), last_error: null });
      if (done.length < batch.length) break; // unanswered ids stay queued for the next flush
    }
    out.status = 'ok';
    return out;
  }

  // ---------- pairing (RFC 8628) ----------

  /** Section 3.1/3.2: ask for a device code; stores and returns what the consumer must see. */
  async startPairing(vaultUrl) {
    const current = await loadSettings(this.storage);
    const changed = vaultUrl && base(vaultUrl) !== current.vault_url;
    // Tokens belong to the vault that issued them.
    const s = changed ? await updateSettings(this.storage, { vault_url: base(vaultUrl), auth: null, vault_settings: null }) : current;
    const ask = async (scope) => {
      try {
        const res = await this.fetch(`${base(s.vault_url)}/oauth/device_authorization`, {
          method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
          body: form({ client_id: CLIENT_ID, scope }),
        });
        return { res, data: await res.json().catch(() => ({})) };
      } catch (e) {
        throw new VaultError(`vault unreachable: ${e.message}`, { code: 'network' });
      }
    };
    let { res, data } = await ask(SCOPE);
    if (data.error === 'invalid_scope') ({ res, data } = await ask(BASE_SCOPE)); // an older vault
    if (!res.ok || !data.device_code || !data.user_code) {
      throw new VaultError(`device authorization failed: ${data.error || res.status}`, { status: res.status, code: data.error || 'error' });
    }
    const pairing = {
      device_code: data.device_code,
      user_code: data.user_code,
      verification_uri: data.verification_uri,
      verification_uri_complete: data.verification_uri_complete || null,
      expires_at: this.now() + Number(data.expires_in || 600) * 1000,
      interval: Math.max(1, Number(data.interval || 5)),
      next_poll_at: this.now() + Math.max(1, Number(data.interval || 5)) * 1000,
      status: 'pending',
    };
    await updateSettings(this.storage, { pairing });
    return pairing;
  }

  /**
   * Section 3.4/3.5: one token request. Returns the pairing status: "pending", "paired",
   * "expired", "denied" or "none". Honours `interval` and grows it by 5 s on slow_down.
   */
  async pollPairing({ ignoreInterval = false } = {}) {
    const s = await loadSettings(this.storage);
    const p = s.pairing;
    if (!p || p.status !== 'pending') return p?.status || (isPaired(s) ? 'paired' : 'none');
    if (this.now() >= p.expires_at) {
      await updateSettings(this.storage, { pairing: { ...p, status: 'expired', device_code: null } });
      return 'expired';
    }
    if (!ignoreInterval && p.next_poll_at && this.now() < p.next_poll_at) return 'pending';
    const { res, data } = await this._tokenRequest(s.vault_url, {
      grant_type: DEVICE_GRANT, device_code: p.device_code, client_id: CLIENT_ID,
    });
    if (res.ok && data.access_token) {
      await updateSettings(this.storage, { auth: this._authFrom(data, null), pairing: { status: 'paired', user_code: p.user_code } });
      return 'paired';
    }
    const err = data.error || '';
    if (err === 'authorization_pending') {
      await updateSettings(this.storage, { pairing: { ...p, next_poll_at: this.now() + p.interval * 1000 } });
      return 'pending';
    }
    if (err === 'slow_down') {
      const interval = p.interval + 5;
      await updateSettings(this.storage, { pairing: { ...p, interval, next_poll_at: this.now() + interval * 1000 } });
      return 'pending';
    }
    if (err === 'expired_token') {
      await updateSettings(this.storage, { pairing: { ...p, status: 'expired', device_code: null } });
      return 'expired';
    }
    if (err === 'access_denied') {
      await updateSettings(this.storage, { pairing: { ...p, status: 'denied', device_code: null } });
      return 'denied';
    }
    // Server trouble: keep polling at the normal pace.
    await updateSettings(this.storage, { pairing: { ...p, next_poll_at: this.now() + p.interval * 1000, last_error: err || `HTTP ${res.status}` } });
    return 'pending';
  }

  async cancelPairing() { await updateSettings(this.storage, { pairing: null }); }

  async unpair() { await updateSettings(this.storage, { auth: null, pairing: null, vault_settings: null }); }

  // ---------- reads and deletion ----------

  async _json(path, { tolerate404 = false } = {}) {
    const res = await this.authed(path);
    if (tolerate404 && res.status === 404) return null;
    if (!res.ok) throw new VaultError(`GET ${path}: HTTP ${res.status}`, { status: res.status });
    return res.json();
  }

  /** GET /v1/me/settings -> stored as vault_settings (paused, opt_in_categories). */
  async fetchSettings() {
    const data = await this._json('/v1/me/settings');
    const vault_settings = { paused: !!data.paused, opt_in_categories: Array.isArray(data.opt_in_categories) ? data.opt_in_categories.map(String) : [], fetched_at: this.now() };
    await updateSettings(this.storage, { vault_settings });
    return vault_settings;
  }

  async fetchSignals() {
    const data = await this._json('/v1/signals');
    return Array.isArray(data?.signals) ? data.signals : [];
  }

  /** GET /v1/inbox/summary; a vault without an inbox (404) yields null. */
  async fetchInboxSummary() {
    const data = await this._json('/v1/inbox/summary', { tolerate404: true });
    return data ? { offers: Number(data.offers) || 0, questions: Number(data.questions) || 0 } : null;
  }

  /**
   * The consumer's terms (IEEE 7012): the vault's roster (GET /v1/terms/roster) and the consumer's choices
   * (GET /v1/me/terms: default, per-vendor, and the vendor apps one may choose for). Null when the vault keeps
   * no roster (404). Needs the terms:self scope: a pairing made before it gets a VaultError with status 403.
   */
  async fetchTerms() {
    const roster = await this._json('/v1/terms/roster', { tolerate404: true });
    if (!roster) return null;
    return { roster, choices: await this._json('/v1/me/terms') };
  }

  /** PUT /v1/me/terms: the default agreement (no vendor) or one vendor's (agreementId null removes that choice). */
  async saveTerms(agreementId, vendorId = null) {
    const body = vendorId ? { agreement_id: agreementId, vendor_id: vendorId } : { agreement_id: agreementId };
    const res = await this.authed('/v1/me/terms', {
      method: 'PUT', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
    });
    if (!res.ok) {
      const problem = await res.json().catch(() => ({}));
      throw new VaultError(problem.detail || `PUT /v1/me/terms: HTTP ${res.status}`, { status: res.status });
    }
    return res.json();
  }

  /** DELETE /v1/gestures/{id}; 404 means the vault never had it (or already deleted it). */
  async deleteGesture(id) {
    const res = await this.authed(`/v1/gestures/${encodeURIComponent(id)}`, { method: 'DELETE' });
    if (!(res.ok || res.status === 404)) throw new VaultError(`DELETE gesture: HTTP ${res.status}`, { status: res.status });
    return true;
  }
}
