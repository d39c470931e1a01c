// A real OpenID Connect provider (npm oidc-provider, its development log-in and consent pages)
// for Ward's single sign-on tests. Any login name is accepted with any password, and the name
// is the account's email address.
//
//   node provider.mjs PORT CLIENT_ID CLIENT_SECRET REDIRECT_URI
//
// Prints "OIDC provider listening on ISSUER" when ready, and "REDIRECT URL" for each answer it
// sends back to the client (so a test can replay one).
import Provider from 'oidc-provider';

const [port, clientId, clientSecret, redirectUri] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;
const provider = new Provider(issuer, {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    redirect_uris: [redirectUri],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_post',
  }],
  pkce: { required: () => true },
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  findAccount: async (ctx, id) => ({
    accountId: id,
    claims: async () => ({ sub: id, email: id, email_verified: true, name: id }),
  }),
  // Put the email in the ID token itself, as Microsoft's and Google's do.
  conformIdTokenClaims: false,
  features: { devInteractions: { enabled: true } },
});
provider.use(async (ctx, next) => {
  await next();
  const location = ctx.response.get('location');
  if (location && location.startsWith(redirectUri)) {
    console.log(`REDIRECT ${location}`);
  }
});
provider.listen(Number(port), '127.0.0.1', () => {
  console.log(`OIDC provider listening on ${issuer}`);
});
