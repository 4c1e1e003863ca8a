// A real OAuth 2.1 / OIDC authorization server for the tests: npm
// oauth2-mock-server (signed JWTs, JWKS, discovery, authorization code with
// PKCE, client credentials), started on 127.0.0.1 with the behaviour a real
// issuer has and the mock leaves to its user:
//   - RFC 8707: a token's `aud` is the `resource` the client asked for;
//   - the scopes granted are those asked for at /authorize;
//   - dynamic client registration (RFC 7591) at /register;
//   - the authorization-code subject is MCPGATE_TEST_SUBJECT (default alice).
// For refusal tests, POST /test/token {claims, header} signs any claims,
// and GET /test/stats counts the requests made of it.
// Prints one JSON line, {"url": ...}, once it listens.
const { OAuth2Server } = await import(process.env.MCPGATE_OAUTH_SERVER_JS);

const server = new OAuth2Server();
for (const alg of (process.env.MCPGATE_TEST_ALGS ?? 'RS256').split(',')) {
  await server.issuer.keys.generate(alg);
}
const subject = process.env.MCPGATE_TEST_SUBJECT ?? 'alice';
const stats = { jwks: 0, client_credentials: 0, authorization_code: 0, register: 0 };
const scopesByCode = new Map();
let clients = 0;

server.service.on('beforeAuthorizeRedirect', (redirect, req) => {
  const code = redirect.url.searchParams.get('code');
  if (code && typeof req.query.scope === 'string') scopesByCode.set(code, req.query.scope);
});
server.service.on('beforeTokenSigning', (token, req) => {
  const body = req.body ?? {};
  if (body.grant_type) stats[body.grant_type] = (stats[body.grant_type] ?? 0) + 1;
  if (typeof body.resource === 'string') token.payload.aud = body.resource;
  if (body.grant_type === 'authorization_code') {
    token.payload.sub = subject;
    token.payload.scope = scopesByCode.get(body.code) ?? '';
    scopesByCode.delete(body.code);
    if (typeof body.client_id === 'string') token.payload.client_id = body.client_id;
  }
});
server.service.on('beforeWellKnownOpenIdConfiguration', (response) => {
  response.body.registration_endpoint = `${server.issuer.url}/register`;
  response.body.token_endpoint_auth_methods_supported = ['none', 'client_secret_basic', 'client_secret_post'];
});
server.service.addRoute('POST', '/register', (req, res) => {
  stats.register += 1;
  clients += 1;
  const body = typeof req.body === 'object' && req.body ? req.body : {};
  res.writeHead(201, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ ...body, client_id: `client-${clients}`, client_id_issued_at: Math.floor(Date.now() / 1000), token_endpoint_auth_method: 'none' }));
});
server.service.addRoute('POST', '/test/token', async (req, res) => {
  const { claims = {}, expires_in = 3600 } = req.body ?? {};
  const token = await server.issuer.buildToken({
    expiresIn: expires_in,
    scopesOrTransform: (_header, payload) => Object.assign(payload, claims),
  });
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ token }));
});
server.service.addRoute('GET', '/test/stats', (_req, res) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(stats));
});
const jwks = server.service.requestHandler;
const http = await import('node:http');
const listener = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/jwks') stats.jwks += 1;
  jwks(req, res);
});
await new Promise((resolve) => listener.listen(0, '127.0.0.1', resolve));
server.issuer.url = `http://127.0.0.1:${listener.address().port}`;
console.log(JSON.stringify({ url: server.issuer.url }));
process.on('SIGTERM', () => process.exit(0));
