// The OpenID provider Utsyn's tests sign in through: panva's oidc-provider, configured by the
// JSON file named on the command line (tests/web/oidc_provider.py writes it). Never part of
// the product. Login is scriptable: the login page is a plain form (account, acr) and consent
// is given at once. One deliberate misbehaviour, for the tests of what Utsyn refuses:
// `tamper_aud` re-signs a client's ID tokens for another audience.
import { readFileSync } from 'node:fs';
import { CompactSign, decodeJwt, importJWK } from 'jose';
import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const ttls = {};
const tamper = {};
const clients = config.clients.map(({ id_token_ttl, tamper_aud, ...client }) => {
  if (id_token_ttl !== undefined) ttls[client.client_id] = id_token_ttl;
  if (tamper_aud !== undefined) tamper[client.client_id] = tamper_aud;
  return client;
});

const provider = new Provider(config.issuer, {
  clients,
  jwks: config.jwks,
  acrValues: config.acr_values,
  claims: { openid: ['sub'], email: ['email'], profile: ['name', 'groups', 'orgno'] },
  conformIdTokenClaims: false, // every granted claim in the ID token, as Utsyn reads it there
  findAccount: (ctx, id) => (config.accounts[id]
    ? { accountId: id, claims: () => ({ sub: id, ...config.accounts[id] }) }
    : undefined),
  pkce: { required: () => true },
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  cookies: { keys: ['utsyn-test-provider'] },
  ttl: {
    // A negative lifetime makes a token that has expired when it is issued.
    IdToken: (ctx, token, client) => ttls[client.clientId] ?? 3600,
    AccessToken: 3600,
    AuthorizationCode: 60,
    Interaction: 600,
    Session: 600,
    Grant: 600,
  },
});

async function form(req) {
  let body = '';
  for await (const chunk of req) body += chunk;
  return new URLSearchParams(body);
}

async function consent(details) {
  const { prompt: { details: missing }, params, session, grantId } = details;
  const grant = grantId
    ? await provider.Grant.find(grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  return { consent: { grantId: await grant.save() } };
}

provider.use(async (ctx, next) => {
  const match = ctx.path.match(/^\/interaction\/([^/]+)(\/login)?$/);
  if (match) {
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    let result;
    if (match[2] && ctx.method === 'POST') {
      const fields = await form(ctx.req);
      result = { login: { accountId: fields.get('account'), acr: fields.get('acr') } };
    } else if (details.prompt.name === 'consent') {
      result = await consent(details);
    } else {
      ctx.type = 'html';
      ctx.body = `<form method="post" action="/interaction/${match[1]}/login">`
        + '<input name="account"><input name="acr"><button>Log in</button></form>';
      return;
    }
    ctx.status = 303;
    ctx.redirect(await provider.interactionResult(ctx.req, ctx.res, result));
    return;
  }
  await next();
  const client = ctx.oidc?.client?.clientId;
  if (ctx.path === '/token' && ctx.body?.id_token && tamper[client]) {
    const payload = { ...decodeJwt(ctx.body.id_token), aud: tamper[client] };
    const jwk = config.jwks.keys[0];
    ctx.body.id_token = await new CompactSign(Buffer.from(JSON.stringify(payload)))
      .setProtectedHeader({ alg: 'RS256', kid: jwk.kid, typ: 'JWT' })
      .sign(await importJWK(jwk, 'RS256'));
  }
});

const server = provider.listen(config.port, config.host, () => {
  process.stdout.write(`ready ${config.issuer}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
