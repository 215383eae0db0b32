// A real OpenID Provider for Vitrine's tests: panva's certified `oidc-provider`, on 127.0.0.1,
// with its development login page (any password; the login name is the account). Prints
// `ISSUER <url>` once it listens.
//
// Tests change it through `POST /__test`, a JSON object with any of:
//   client:   { redirect_uris, post_logout_redirect_uris }  the client `vitrine` (secret
//             `vitrine-test-secret`) is registered with these;
//   accounts: { "<login>": { preferred_username, email, groups } }  claims per account;
//   rotate:   true  a new signing key replaces the old one (the old key leaves the JWKS).
// Each change builds the provider anew; sessions, grants and tokens are kept (one memory
// adapter), so a refresh token handed out before a change still works after it.
//
// Usage: node oidc/provider.mjs [--port N] [--redirect URI] [--post-logout URI]

import http from 'node:http';
import crypto from 'node:crypto';
import { parseArgs } from 'node:util';
import Provider from 'oidc-provider';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    redirect: { type: 'string', multiple: true, default: [] },
    'post-logout': { type: 'string', multiple: true, default: [] },
  },
});

const state = {
  client: { redirect_uris: args.redirect, post_logout_redirect_uris: args['post-logout'] },
  accounts: {},
  key: newKey(),
};

function newKey() {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: crypto.randomUUID(), use: 'sig', alg: 'RS256' };
}

// One store for every instance: sessions, grants and tokens outlive a rebuild.
const stores = new Map();
class MemoryAdapter {
  constructor(model) {
    this.model = model;
  }
  key(id) {
    return `${this.model}:${id}`;
  }
  async upsert(id, payload, expiresIn) {
    stores.set(this.key(id), { payload, expires: expiresIn ? Date.now() + expiresIn * 1000 : undefined });
    if (payload.grantId) stores.set(`grant:${payload.grantId}:${this.key(id)}`, { payload: this.key(id) });
    if (payload.userCode) stores.set(`userCode:${payload.userCode}`, { payload: id });
    if (payload.uid) stores.set(`uid:${payload.uid}`, { payload: id });
  }
  async find(id) {
    const found = stores.get(this.key(id));
    if (!found || (found.expires && found.expires < Date.now())) return undefined;
    return found.payload;
  }
  async findByUid(uid) {
    const id = stores.get(`uid:${uid}`)?.payload;
    return id ? this.find(id) : undefined;
  }
  async findByUserCode(code) {
    const id = stores.get(`userCode:${code}`)?.payload;
    return id ? this.find(id) : undefined;
  }
  async consume(id) {
    const found = stores.get(this.key(id));
    if (found) found.payload.consumed = Math.floor(Date.now() / 1000);
  }
  async destroy(id) {
    stores.delete(this.key(id));
  }
  async revokeByGrantId(grantId) {
    for (const [k, v] of stores) {
      if (k.startsWith(`grant:${grantId}:`)) {
        stores.delete(v.payload);
        stores.delete(k);
      }
    }
  }
}

function build(issuer) {
  const provider = new Provider(issuer, {
    adapter: MemoryAdapter,
    clients: [
      {
        client_id: 'vitrine',
        client_secret: 'vitrine-test-secret',
        redirect_uris: state.client.redirect_uris,
        post_logout_redirect_uris: state.client.post_logout_redirect_uris,
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    jwks: { keys: [state.key] },
    cookies: { keys: ['vitrine-test-cookies'] },
    pkce: { required: () => true },
    scopes: ['openid', 'offline_access', 'profile', 'email', 'groups'],
    claims: {
      openid: ['sub'],
      profile: ['preferred_username', 'name'],
      email: ['email', 'email_verified'],
      groups: ['groups'],
    },
    // The claims of the granted scopes go into the ID token itself, as most providers
    // configured for groups do.
    conformIdTokenClaims: false,
    features: {
      devInteractions: { enabled: true },
      rpInitiatedLogout: { enabled: true },
    },
    // A refresh token to every code exchange of a client that may refresh.
    issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
    // Vitrine is a first-party client here: no consent page.
    async loadExistingGrant(ctx) {
      const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
      if (grantId) return ctx.oidc.provider.Grant.find(grantId);
      const grant = new ctx.oidc.provider.Grant({
        clientId: ctx.oidc.client.clientId,
        accountId: ctx.oidc.session.accountId,
      });
      grant.addOIDCScope('openid offline_access profile email groups');
      await grant.save();
      return grant;
    },
    async findAccount(ctx, id) {
      return {
        accountId: id,
        async claims() {
          const account = state.accounts[id] || {};
          return { preferred_username: id, email: `${id}@example.test`, groups: [], ...account, sub: id };
        },
      };
    },
    ttl: { IdToken: 600, AccessToken: 600, RefreshToken: 86400, Grant: 86400, Session: 86400, Interaction: 600 },
  });
  provider.on('server_error', (ctx, error) => console.error('provider error:', error));
  return provider;
}

let provider;
const server = http.createServer((req, res) => {
  if (req.method === 'POST' && req.url === '/__test') {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      try {
        const change = JSON.parse(body || '{}');
        if (change.client) state.client = { ...state.client, ...change.client };
        if (change.accounts) state.accounts = { ...state.accounts, ...change.accounts };
        if (change.rotate) state.key = newKey();
        provider = build(provider.issuer);
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ kid: state.key.kid }));
      } catch (e) {
        res.writeHead(400);
        res.end(String(e));
      }
    });
    return;
  }
  provider.callback()(req, res);
});

server.listen(Number(args.port), '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  provider = build(issuer);
  console.log(`ISSUER ${issuer}`);
});

for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => server.close(() => process.exit(0)));
