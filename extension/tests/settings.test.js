import { describe, it, expect } from 'vitest';
import { migrate, loadSettings, updateSettings, SCHEMA_VERSION, defaults, isPaused, optIns, isNeverRecord, normalizeSite, MIGRATIONS } from '../src/settings.js';
import { MemoryStorage } from './helpers/storage.js';

describe('settings migrations', () => {
  it('fresh install gets defaults at the current version', () => {
    const { settings, migrated } = migrate(undefined);
    expect(migrated).toBe(true);
    expect(settings).toEqual(defaults());
    expect(settings.schema_version).toBe(SCHEMA_VERSION);
  });
  it('upgrades the unversioned pre-release layout all the way', () => {
    const v0 = { vaultUrl: 'https://vault.example', neverRecord: 'https://www.bank.example/login, *.clinic.example', paused: 'yes',
      token: 'at', refreshToken: 'rt', tokenExpiry: 123, sensitive_opt_in: { health: true, religion: false } };
    const { settings } = migrate(v0);
    expect(settings).toMatchObject({
      schema_version: SCHEMA_VERSION, vault_url: 'https://vault.example', paused: true,
      never_record: ['bank.example', 'clinic.example'],
      auth: { access_token: 'at', refresh_token: 'rt', expires_at: 123, token_type: 'Bearer', scope: '' },
      opt_in_categories: ['health'],
    });
    for (const k of ['vaultUrl', 'neverRecord', 'token', 'refreshToken', 'tokenExpiry', 'sensitive_opt_in']) expect(settings).not.toHaveProperty(k);
  });
  it('each step moves exactly one version', () => {
    let s = { vaultUrl: 'x' };
    for (let v = 1; v <= SCHEMA_VERSION; v++) { s = MIGRATIONS[v](s); expect(s.schema_version).toBe(v); }
  });
  it('v2 data keeps its auth and gains opt-in list', () => {
    const v2 = { schema_version: 2, vault_url: 'https://v.example', never_record: ['WWW.Shop.Example'], auth: { access_token: 'a' } };
    const { settings } = migrate(v2);
    expect(settings.never_record).toEqual(['shop.example']);
    expect(settings.opt_in_categories).toEqual([]);
    expect(settings.auth).toEqual({ access_token: 'a' });
  });
  it('current data is untouched and not rewritten', async () => {
    const storage = new MemoryStorage({ settings: { ...defaults(), vault_url: 'https://v.example' } });
    const s = await loadSettings(storage);
    expect(s.vault_url).toBe('https://v.example');
    expect(storage.writes).toBe(0);
  });
  it('migrates stored data once and persists it', async () => {
    const storage = new MemoryStorage({ settings: { vaultUrl: 'https://old.example' } });
    await loadSettings(storage);
    expect(storage.data.settings.schema_version).toBe(SCHEMA_VERSION);
    expect(storage.data.settings.vault_url).toBe('https://old.example');
    const writes = storage.writes;
    await loadSettings(storage);
    expect(storage.writes).toBe(writes);
  });
  it('refuses data from a newer extension instead of corrupting it', () => {
    expect(() => migrate({ schema_version: SCHEMA_VERSION + 1 })).toThrow(/newer/);
  });
});

describe('settings helpers', () => {
  it('normalises never-record entries and drops junk', async () => {
    const storage = new MemoryStorage();
    const s = await updateSettings(storage, { never_record: ['https://www.Bank.example/x', 'bank.example', 'not a site', ''] });
    expect(s.never_record).toEqual(['bank.example']);
    expect(normalizeSite('localhost')).toBe('localhost');
  });
  it('pause and opt-ins combine local and vault settings', () => {
    const s = { ...defaults(), opt_in_categories: ['health'], vault_settings: { paused: true, opt_in_categories: ['religion'] } };
    expect(isPaused(s)).toBe(true);
    expect([...optIns(s)].sort()).toEqual(['health', 'religion']);
    expect(isPaused(defaults())).toBe(false);
  });
  it('never-record matches the site and its subdomains', () => {
    const s = { ...defaults(), never_record: ['bank.example'] };
    expect(isNeverRecord(s, 'https://online.bank.example/acct')).toBe(true);
    expect(isNeverRecord(s, 'https://shop.example/')).toBe(false);
  });
});
