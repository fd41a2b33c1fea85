import { describe, it, expect, vi } from 'vitest';
import { VaultClient, BACKOFF_MIN_MS, BACKOFF_MAX_MS, CLIENT_ID, DEVICE_GRANT, LOG_KEY } from '../src/sync.js';
import { Queue } from '../src/queue.js';
import { defaults } from '../src/settings.js';
import { MemoryStorage } from './helpers/storage.js';
import { fakeVault } from './helpers/vault.js';

const VAULT = 'https://vault.example';
const ev = (i) => ({ id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`, type: 'search', ts: '2026-11-25T10:00:00.000Z', origin: 'https://s.example', path: '/s', query: `q${i}` });

function setup({ paired = true, events = 0 } = {}) {
  let now = 1_000_000;
  const clock = { now: () => now, advance: (ms) => { now += ms; } };
  const storage = new MemoryStorage({ settings: { ...defaults(), vault_url: VAULT,
    auth: paired ? { access_token: 'at-1', refresh_token: 'rt-1', expires_at: now + 3600_000, token_type: 'Bearer' } : null } });
  const queue = new Queue(storage);
  const vault = fakeVault();
  const client = new VaultClient({ storage, queue, fetch: vault.fetch, now: clock.now, random: () => 0 });
  return { storage, queue, vault, client, clock, fill: async (n = events) => { for (let i = 0; i < n; i++) await queue.add(ev(i)); } };
}

const posts = (vault) => vault.state.requests.filter((r) => r.path === '/v1/gestures' && r.method === 'POST');

describe('sending gestures', () => {
  it('sends batches of at most 100 with the bearer token and empties the queue', async () => {
    const t = setup();
    await t.fill(250);
    const res = await t.client.flush();
    expect(res).toMatchObject({ status: 'ok', sent: 250, accepted: 250 });
    const p = posts(t.vault);
    expect(p.map((r) => JSON.parse(r.body).events.length)).toEqual([100, 100, 50]);
    expect(p[0].headers.Authorization).toBe('Bearer at-1');
    expect(p[0].headers['Content-Type']).toBe('application/json');
    expect(Object.keys(JSON.parse(p[0].body))).toEqual(['events']);
    expect(await t.queue.size()).toBe(0);
  });
  it('never sends an event twice once the vault has answered for it', async () => {
    const t = setup();
    await t.fill(5);
    await t.client.flush();
    await t.client.flush();
    const ids = posts(t.vault).flatMap((r) => JSON.parse(r.body).events.map((e) => e.id));
    expect(ids).toHaveLength(5);
    expect(new Set(ids).size).toBe(5);
  });
  it('concurrent flushes share one run', async () => {
    const t = setup();
    await t.fill(3);
    await Promise.all([t.client.flush(), t.client.flush(), t.client.flush()]);
    expect(posts(t.vault)).toHaveLength(1);
  });
  it('duplicate and rejected results leave the queue; rejected ones are logged', async () => {
    const t = setup();
    await t.fill(3);
    t.vault.state.stored.set(ev(0).id, ev(0));
    t.vault.state.rejectIds.add(ev(1).id);
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const res = await t.client.flush();
    warn.mockRestore();
    expect(res).toMatchObject({ accepted: 1, duplicate: 1, rejected: 1 });
    expect(await t.queue.size()).toBe(0);
    expect(t.storage.data[LOG_KEY]).toEqual([expect.objectContaining({ id: ev(1).id, reason: 'unknown category' })]);
  });
  it('events the vault did not answer for stay queued and are resent with the same id', async () => {
    const t = setup();
    await t.fill(2);
    t.vault.state.omitIds.add(ev(1).id);
    await t.client.flush();
    expect((await t.queue.all()).map((i) => i.event.id)).toEqual([ev(1).id]);
    t.vault.state.omitIds.clear();
    await t.client.flush();
    expect(await t.queue.size()).toBe(0);
    expect(posts(t.vault).at(-1).body).toContain(ev(1).id);
  });
  it('backs off exponentially when offline or on 5xx, keeps the events, and resumes after a restart', async () => {
    const t = setup();
    await t.fill(3);
    t.vault.state.mode = 'offline';
    expect((await t.client.flush()).status).toBe('offline');
    let st = await t.client.syncState();
    expect(st.backoff_ms).toBe(BACKOFF_MIN_MS);
    expect(st.next_attempt_at).toBe(t.clock.now() + BACKOFF_MIN_MS);
    expect((await t.client.flush()).status).toBe('backoff'); // alarm fired too early: no request
    t.clock.advance(BACKOFF_MIN_MS);
    t.vault.state.mode = '503';
    expect((await t.client.flush()).status).toBe('retry');
    st = await t.client.syncState();
    expect(st.backoff_ms).toBe(BACKOFF_MIN_MS * 2);
    expect(await t.queue.size()).toBe(3);
    // Service worker restart: new objects over the same storage keep the backoff state.
    const q2 = new Queue(t.storage);
    const c2 = new VaultClient({ storage: t.storage, queue: q2, fetch: t.vault.fetch, now: t.clock.now, random: () => 0 });
    expect((await c2.flush()).status).toBe('backoff');
    t.clock.advance(BACKOFF_MIN_MS * 2);
    t.vault.state.mode = 'ok';
    expect(await c2.flush()).toMatchObject({ status: 'ok', accepted: 3 });
    expect((await c2.syncState()).backoff_ms).toBe(0);
  });
  it('backoff is capped', async () => {
    const t = setup();
    await t.fill(1);
    t.vault.state.mode = '503';
    for (let i = 0; i < 20; i++) { await t.client.flush({ force: true }); }
    expect((await t.client.syncState()).backoff_ms).toBe(BACKOFF_MAX_MS);
  });
  it('refreshes an expired access token (rotating the refresh token) and retries once', async () => {
    const t = setup();
    await t.fill(1);
    t.vault.state.accessToken = 'at-2'; // the vault no longer accepts at-1
    t.vault.state.refreshToken = 'rt-1';
    const res = await t.client.flush();
    expect(res.status).toBe('ok');
    expect(t.storage.data.settings.auth).toMatchObject({ access_token: 'at-2-r', refresh_token: 'rt-1-r' });
    const refresh = t.vault.state.requests.find((r) => r.path === '/oauth/token');
    expect(new URLSearchParams(refresh.body).get('grant_type')).toBe('refresh_token');
    expect(new URLSearchParams(refresh.body).get('client_id')).toBe(CLIENT_ID);
  });
  it('a refused refresh unpairs but keeps the queue', async () => {
    const t = setup();
    await t.fill(2);
    t.vault.state.accessToken = 'other';
    t.vault.state.refreshToken = 'other-rt';
    expect((await t.client.flush()).status).toBe('unpaired');
    expect(t.storage.data.settings.auth).toBeNull();
    expect(await t.queue.size()).toBe(2);
  });
  it('does nothing while unpaired', async () => {
    const t = setup({ paired: false });
    await t.fill(2);
    expect((await t.client.flush()).status).toBe('unpaired');
    expect(t.vault.state.requests).toHaveLength(0);
  });
});

describe('pairing (RFC 8628 device flow)', () => {
  it('requests a device code with client_id and scope, polls through pending and slow_down, then stores tokens', async () => {
    const t = setup({ paired: false });
    const p = await t.client.startPairing(VAULT);
    expect(p).toMatchObject({ user_code: 'WDJB-MJHT', verification_uri: `${VAULT}/device`, interval: 5, status: 'pending' });
    const da = t.vault.state.requests[0];
    expect(da.path).toBe('/oauth/device_authorization');
    expect(Object.fromEntries(new URLSearchParams(da.body))).toEqual({ client_id: 'intent-vault-extension', scope: 'gestures:write signals:read:self terms:self' });

    t.vault.state.pending = 1;
    t.vault.state.slowDownOnce = true;
    expect(await t.client.pollPairing()).toBe('pending'); // too early: interval not elapsed, no request
    expect(t.vault.state.requests).toHaveLength(1);
    t.clock.advance(5000);
    expect(await t.client.pollPairing()).toBe('pending'); // slow_down
    expect(t.storage.data.settings.pairing.interval).toBe(10);
    t.clock.advance(5000);
    expect(await t.client.pollPairing()).toBe('pending'); // interval grew to 10 s: no request yet
    t.clock.advance(5000);
    expect(await t.client.pollPairing()).toBe('pending'); // authorization_pending
    t.clock.advance(10_000);
    expect(await t.client.pollPairing()).toBe('paired');
    const tokenReqs = t.vault.state.requests.filter((r) => r.path === '/oauth/token');
    expect(tokenReqs).toHaveLength(3);
    expect(Object.fromEntries(new URLSearchParams(tokenReqs[0].body))).toEqual({ grant_type: DEVICE_GRANT, device_code: 'dc-1', client_id: CLIENT_ID });
    expect(t.storage.data.settings.auth).toMatchObject({ access_token: 'at-1', refresh_token: 'rt-1' });
    expect(t.storage.data.settings.pairing.device_code).toBeUndefined();
  });
  it.each([['deny', 'denied'], ['expire', 'expired']])('%s -> %s and stops polling', async (outcome, status) => {
    const t = setup({ paired: false });
    await t.client.startPairing(VAULT);
    t.vault.state.pending = 0;
    t.vault.state.deviceOutcome = outcome;
    expect(await t.client.pollPairing({ ignoreInterval: true })).toBe(status);
    const n = t.vault.state.requests.length;
    expect(await t.client.pollPairing({ ignoreInterval: true })).toBe(status);
    expect(t.vault.state.requests).toHaveLength(n);
    expect(t.storage.data.settings.auth).toBeNull();
  });
  it('pairs with a vault from before terms:self by asking again without it', async () => {
    const t = setup({ paired: false });
    t.vault.state.knownScopes = new Set(['gestures:write', 'signals:read:self']);
    expect(await t.client.startPairing(VAULT)).toMatchObject({ user_code: 'WDJB-MJHT', status: 'pending' });
    const scopes = t.vault.state.requests.map((r) => new URLSearchParams(r.body).get('scope'));
    expect(scopes).toEqual(['gestures:write signals:read:self terms:self', 'gestures:write signals:read:self']);
    t.vault.state.knownScopes = new Set(['gestures:write']);
    await expect(t.client.startPairing(VAULT)).rejects.toThrow(/invalid_scope/);
  });
  it('a code past expires_in expires locally without a request', async () => {
    const t = setup({ paired: false });
    await t.client.startPairing(VAULT);
    t.clock.advance(601_000);
    expect(await t.client.pollPairing()).toBe('expired');
    expect(t.vault.state.requests).toHaveLength(1);
  });
});

describe('reads and deletion', () => {
  it('fetches settings, signals, tolerates a missing inbox, and deletes by id', async () => {
    const t = setup();
    t.vault.state.settings = { paused: true, opt_in_categories: ['health'] };
    expect(await t.client.fetchSettings()).toMatchObject({ paused: true, opt_in_categories: ['health'] });
    expect(t.storage.data.settings.vault_settings.paused).toBe(true);
    expect((await t.client.fetchSignals())[0]).toMatchObject({ category: 'electronics.tv', stage: 'motivation' });
    expect(await t.client.fetchInboxSummary()).toBeNull();
    t.vault.state.inbox = { offers: 2, questions: 1 };
    expect(await t.client.fetchInboxSummary()).toEqual({ offers: 2, questions: 1 });
    t.vault.state.stored.set('abc', {});
    expect(await t.client.deleteGesture('abc')).toBe(true);
    const del = t.vault.state.requests.find((r) => r.method === 'DELETE');
    expect(del.path).toBe('/v1/gestures/abc');
    expect(del.headers.Authorization).toBe('Bearer at-1');
  });
});
