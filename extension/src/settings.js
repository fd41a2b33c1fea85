/**
 * Stored settings (chrome.storage.local key "settings"), versioned with migrations in the style of
 * Privacy Badger's migrations.js: each migration takes the object at version N-1 and returns it at
 * version N. loadSettings() upgrades whatever it finds and writes the result back once.
 */
import { hostMatches } from './lib/minimise.js';

export const SCHEMA_VERSION = 3;
export const SETTINGS_KEY = 'settings';
export const DEFAULT_VAULT_URL = 'http://127.0.0.1:8000';

export function defaults() {
  return {
    schema_version: SCHEMA_VERSION,
    vault_url: DEFAULT_VAULT_URL,
    paused: false,
    never_record: [],
    opt_in_categories: [],
    auth: null, // {access_token, refresh_token, expires_at, scope, token_type}
    pairing: null, // {device_code, user_code, verification_uri, verification_uri_complete, expires_at, interval, status}
    vault_settings: null, // {paused, opt_in_categories, fetched_at} as last read from GET /v1/me/settings
  };
}

/** Reduce "https://www.shop.example/path" or "*.shop.example" to "shop.example". */
export function normalizeSite(entry) {
  let s = String(entry || '').trim().toLowerCase();
  if (!s) return '';
  s = s.replace(/^[a-z]+:\/\//, '').replace(/^\*\./, '').replace(/[/?#].*$/, '').replace(/:\d+$/, '').replace(/^www\./, '');
  return /^[a-z0-9.-]+$/.test(s) && s.includes('.') || s === 'localhost' ? s : '';
}

function uniq(list) { return [...new Set(list.filter(Boolean))]; }

/**
 * Migrations. Index N upgrades version N-1 to N.
 *  v0 -> v1: the pre-release layout used camelCase keys (vaultUrl, neverRecord as a comma-separated
 *            string, paused as "yes"/"no").
 *  v1 -> v2: loose token fields (token, refreshToken, tokenExpiry) become one `auth` object.
 *  v2 -> v3: sensitive opt-ins stored as a map {category: true} become a list of category ids;
 *            never-record entries are normalised to bare host names.
 */
export const MIGRATIONS = {
  1(s) {
    const out = { ...s };
    if ('vaultUrl' in out) { out.vault_url = out.vaultUrl; delete out.vaultUrl; }
    if ('neverRecord' in out) {
      const v = out.neverRecord;
      out.never_record = Array.isArray(v) ? v : String(v || '').split(/[,\s]+/);
      delete out.neverRecord;
    }
    if (typeof out.paused === 'string') out.paused = out.paused === 'yes' || out.paused === 'true';
    out.schema_version = 1;
    return out;
  },
  2(s) {
    const out = { ...s };
    if (out.token || out.refreshToken) {
      out.auth = { access_token: out.token || null, refresh_token: out.refreshToken || null,
        expires_at: Number(out.tokenExpiry) || 0, token_type: 'Bearer', scope: '' };
    }
    delete out.token; delete out.refreshToken; delete out.tokenExpiry;
    if (!('auth' in out)) out.auth = null;
    out.schema_version = 2;
    return out;
  },
  3(s) {
    const out = { ...s };
    const o = out.sensitive_opt_in ?? out.opt_in_categories;
    out.opt_in_categories = Array.isArray(o) ? uniq(o.map(String)) : o && typeof o === 'object'
      ? Object.keys(o).filter((k) => o[k] === true).sort() : [];
    delete out.sensitive_opt_in;
    out.never_record = uniq((out.never_record || []).map(normalizeSite));
    out.schema_version = 3;
    return out;
  },
};

/** Upgrade a stored object to SCHEMA_VERSION. Returns {settings, migrated}. */
export function migrate(stored) {
  let s = stored && typeof stored === 'object' ? { ...stored } : null;
  if (!s) return { settings: defaults(), migrated: true };
  let v = Number.isInteger(s.schema_version) ? s.schema_version : 0;
  if (v > SCHEMA_VERSION) throw new Error(`settings schema ${v} is newer than this extension (${SCHEMA_VERSION})`);
  const from = v;
  while (v < SCHEMA_VERSION) {
    v += 1;
    s = MIGRATIONS[v](s);
  }
  return { settings: { ...defaults(), ...s, schema_version: SCHEMA_VERSION }, migrated: from !== SCHEMA_VERSION };
}

export async function loadSettings(storage) {
  const got = await storage.get(SETTINGS_KEY);
  const { settings, migrated } = migrate(got[SETTINGS_KEY]);
  if (migrated) await storage.set({ [SETTINGS_KEY]: settings });
  return settings;
}

/** Shallow-merge a patch into the stored settings and return the result. */
export async function updateSettings(storage, patch) {
  const current = await loadSettings(storage);
  const next = { ...current, ...(typeof patch === 'function' ? patch(current) : patch), schema_version: SCHEMA_VERSION };
  if (next.never_record) next.never_record = uniq(next.never_record.map(normalizeSite));
  if (next.opt_in_categories) next.opt_in_categories = uniq(next.opt_in_categories.map(String));
  await storage.set({ [SETTINGS_KEY]: next });
  return next;
}

/** Recording is paused locally or by the vault. */
export const isPaused = (s) => !!(s.paused || s.vault_settings?.paused);

/** Sensitive categories the consumer opted into, here or in the vault. */
export const optIns = (s) => new Set([...(s.opt_in_categories || []), ...(s.vault_settings?.opt_in_categories || [])]);

/** The site is on the never-record list. */
export const isNeverRecord = (s, url) => {
  let host = '';
  try { host = new URL(url).hostname; } catch { return false; }
  return (s.never_record || []).some((e) => hostMatches(host, e));
};

export const isPaired = (s) => !!(s.auth && s.auth.access_token);
