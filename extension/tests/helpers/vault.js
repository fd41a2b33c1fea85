/**
 * A fake vault for sync tests: a fetch() that records every request and answers like the
 * Intent Vault API (idempotent by gesture id, device flow, refresh rotation).
 */
export function fakeVault({ token = 'at-1', refresh = 'rt-1' } = {}) {
  const state = {
    requests: [], stored: new Map(), mode: 'ok', pending: 2, deviceOutcome: 'approve', slowDownOnce: false,
    accessToken: token, refreshToken: refresh, rejectIds: new Set(), omitIds: new Set(), expiredTokens: new Set(),
    settings: { paused: false, opt_in_categories: [] }, inbox: 404,
    // terms (IEEE 7012): the roster, the consumer's choices; termsScope false answers 403 as a pre-terms pairing
    roster: { version: '1', default: 'cc-sd-offers', agreements: [
      { id: 'cc-sd-base', title: 'Service delivery only', text: 'Data used only to deliver what I asked for.' },
      { id: 'cc-sd-offers', title: 'Service delivery and offers', text: 'Also to send me offers I asked for.' }] },
    terms: { default: 'cc-sd-offers', vendors: {}, vendor_apps: [{ id: 'ivc_shop', name: 'Demo Outfitters' }] },
    termsScope: true,
    knownScopes: null, // a Set: the device grant refuses other scopes with invalid_scope (an older vault)
  };
  const json = (status, body) => ({ ok: status >= 200 && status < 300, status, json: async () => body });
  async function fetch(url, init = {}) {
    const u = new URL(url);
    const headers = init.headers || {};
    const req = { method: init.method || 'GET', path: u.pathname, headers, body: init.body };
    state.requests.push(req);
    if (state.mode === 'offline') throw new TypeError('Failed to fetch');
    if (state.mode === '503') return json(503, { title: 'unavailable' });
    const form = typeof init.body === 'string' && headers['Content-Type'] === 'application/x-www-form-urlencoded' ? new URLSearchParams(init.body) : null;
    if (u.pathname === '/oauth/device_authorization') {
      const asked = (form.get('scope') || '').split(' ').filter(Boolean);
      if (state.knownScopes && asked.some((x) => !state.knownScopes.has(x))) return json(400, { error: 'invalid_scope' });
      return json(200, { device_code: 'dc-1', user_code: 'WDJB-MJHT', verification_uri: `${u.origin}/device`,
        verification_uri_complete: `${u.origin}/device?user_code=WDJB-MJHT`, expires_in: 600, interval: 5 });
    }
    if (u.pathname === '/oauth/token') {
      const grant = form.get('grant_type');
      if (grant === 'urn:ietf:params:oauth:grant-type:device_code') {
        if (state.slowDownOnce) { state.slowDownOnce = false; return json(400, { error: 'slow_down' }); }
        if (state.pending > 0) { state.pending--; return json(400, { error: 'authorization_pending' }); }
        if (state.deviceOutcome === 'deny') return json(400, { error: 'access_denied' });
        if (state.deviceOutcome === 'expire') return json(400, { error: 'expired_token' });
        return json(200, { access_token: state.accessToken, refresh_token: state.refreshToken, token_type: 'Bearer', expires_in: 3600, scope: form.get('scope') || 'gestures:write signals:read:self' });
      }
      if (grant === 'refresh_token') {
        if (form.get('refresh_token') !== state.refreshToken) return json(400, { error: 'invalid_grant' });
        state.accessToken = `${state.accessToken}-r`;
        state.refreshToken = `${state.refreshToken}-r`;
        return json(200, { access_token: state.accessToken, refresh_token: state.refreshToken, token_type: 'Bearer', expires_in: 3600 });
      }
      return json(400, { error: 'unsupported_grant_type' });
    }
    const auth = headers.Authorization || '';
    if (auth !== `Bearer ${state.accessToken}`) return json(401, { title: 'invalid token' });
    if (u.pathname === '/v1/gestures' && req.method === 'POST') {
      const { events } = JSON.parse(init.body);
      const results = [];
      for (const ev of events) {
        if (state.omitIds.has(ev.id)) continue;
        if (state.rejectIds.has(ev.id)) { results.push({ id: ev.id, status: 'rejected', reason: 'unknown category' }); continue; }
        results.push({ id: ev.id, status: state.stored.has(ev.id) ? 'duplicate' : 'accepted' });
        state.stored.set(ev.id, ev);
      }
      return json(200, { results });
    }
    if (u.pathname.startsWith('/v1/gestures/') && req.method === 'DELETE') {
      const id = decodeURIComponent(u.pathname.split('/').pop());
      return json(state.stored.delete(id) ? 204 : 404, {});
    }
    if (u.pathname === '/v1/me/settings') return json(200, state.settings);
    if (u.pathname === '/v1/terms/roster') return state.roster ? json(200, state.roster) : json(404, {});
    if (u.pathname === '/v1/me/terms') {
      if (!state.termsScope) return json(403, { detail: "this credential lacks the scope 'terms:self' or 'account:read'" });
      if (req.method === 'PUT') {
        const body = JSON.parse(init.body);
        if (body.agreement_id !== null && !state.roster.agreements.some((a) => a.id === body.agreement_id)) return json(422, { detail: `'${body.agreement_id}' is not in the roster` });
        if (!body.vendor_id) state.terms = { ...state.terms, default: body.agreement_id };
        else {
          const vendors = { ...state.terms.vendors };
          if (body.agreement_id === null) delete vendors[body.vendor_id]; else vendors[body.vendor_id] = body.agreement_id;
          state.terms = { ...state.terms, vendors };
        }
      }
      return json(200, state.terms);
    }
    if (u.pathname === '/v1/signals') return json(200, { signals: [{ category: 'electronics.tv', category_name: 'Televisions', score: 0.8, stage: 'motivation', last_seen: '2026-11-25T10:00:00Z' }] });
    if (u.pathname === '/v1/inbox/summary') return state.inbox === 404 ? json(404, {}) : json(200, state.inbox);
    return json(404, {});
  }
  return { fetch, state };
}
