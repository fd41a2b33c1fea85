// node-oidc-provider configured like the vault's token endpoint: client_secret_basic, PKCE S256, refresh rotation,
// EdDSA JWT access tokens for one resource, introspection and revocation. An in-memory adapter without eviction
// (its default one is an LRU of 1000 entries, which a few seconds of load outgrow).
// Bench-only route POST /bench/mint?n=N&challenge=C mints N authorization codes (the consent UI is not measured).
import { generateKeyPairSync } from 'node:crypto';
import http from 'node:http';
import Provider from 'oidc-provider';

const port = Number(process.argv[2] || 18999);
const issuer = `http://127.0.0.1:${port}`;
const RESOURCE = 'urn:intent-vault:bench';
const { privateKey } = generateKeyPairSync('ed25519');
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'bench', alg: 'EdDSA', use: 'sig' };

const stores = new Map();
class MemoryAdapter {
  constructor(name) { this.name = name; if (!stores.has(name)) stores.set(name, new Map()); this.store = stores.get(name); }
  async upsert(id, payload) { this.store.set(id, payload); }
  async find(id) { return this.store.get(id); }
  async findByUserCode(code) { for (const p of this.store.values()) if (p.userCode === code) return p; return undefined; }
  async findByUid(uid) { for (const p of this.store.values()) if (p.uid === uid) return p; return undefined; }
  async consume(id) { const p = this.store.get(id); if (p) p.consumed = Math.floor(Date.now() / 1000); }
  async destroy(id) { this.store.delete(id); }
  async revokeByGrantId(grantId) {
    for (const store of stores.values()) for (const [id, p] of store) if (p.grantId === grantId) store.delete(id);
  }
}

const provider = new Provider(issuer, {
  adapter: MemoryAdapter,
  clients: [{
    client_id: 'bench', client_secret: 'bench-secret-bench-secret-bench-secret', redirect_uris: ['https://shop.example/cb'],
    grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic', id_token_signed_response_alg: 'EdDSA',
  }],
  jwks: { keys: [jwk] },
  scopes: ['openid', 'offline_access', 'signals:read'],
  pkce: { required: () => true },
  rotateRefreshToken: true,
  issueRefreshToken: async () => true,
  // codes live 10 minutes here (60 s in production) so minting 400 of them does not outlast them
  ttl: { AccessToken: 600, AuthorizationCode: 600, RefreshToken: 30 * 86400, Grant: 90 * 86400 },
  features: {
    introspection: { enabled: true },
    revocation: { enabled: true },
    devInteractions: { enabled: false },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => RESOURCE,
      getResourceServerInfo: () => ({ scope: 'signals:read', audience: RESOURCE, accessTokenTTL: 600,
        accessTokenFormat: 'jwt', jwt: { sign: { alg: 'EdDSA' } } }),
      useGrantedResource: () => true,
    },
  },
  findAccount: async (ctx, id) => ({ accountId: id, claims: async () => ({ sub: id }) }),
});
provider.proxy = false;

const callback = provider.callback();
http.createServer(async (req, res) => {
  if (req.method === 'POST' && req.url.startsWith('/bench/mint')) {
    const url = new URL(req.url, issuer);
    const n = Number(url.searchParams.get('n'));
    const challenge = url.searchParams.get('challenge');
    const client = await provider.Client.find('bench');
    const codes = [];
    for (let i = 0; i < n; i += 1) {
      const accountId = `c${i}`;
      const grant = new provider.Grant({ accountId, clientId: 'bench' });
      grant.addOIDCScope('offline_access');
      grant.addResourceScope(RESOURCE, 'signals:read');
      const grantId = await grant.save();
      const code = new provider.AuthorizationCode({
        accountId, client, grantId, redirectUri: 'https://shop.example/cb', scope: 'offline_access signals:read',
        codeChallenge: challenge, codeChallengeMethod: 'S256', resource: RESOURCE, authTime: Math.floor(Date.now() / 1000),
        sessionUid: `s${i}`,
      });
      codes.push(await code.save());
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(codes));
    return;
  }
  callback(req, res);
}).listen(port, '127.0.0.1', () => console.log(`oidc-provider on ${issuer}`));
