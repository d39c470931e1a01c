// A real OpenID Connect provider (npm oidc-provider, its development log-in and consent pages)
// for Ward's single sign-on tests. Any login name is accepted with any password, and the name
// is the account's email address.
//
//   node provider.mjs PORT CLIENT_ID CLIENT_SECRET REDIRECT_URI
//
// Prints "OIDC provider listening on ISSUER" when ready, and "REDIRECT URL" for each answer it
// sends back to the client (so a test can replay one).
//
// To test that Ward refuses a bad ID token, a login name may start with a fault and a colon:
// "wrong-audience:NAME" gets a token for another application, "expired:NAME" one that expired
// an hour ago; the email in it is NAME either way, so only the fault can refuse it.
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
    claims: async () => {
      const email = id.replace(/^(wrong-audience|expired):/, '');
      return { sub: id, email, email_verified: true, name: email };
    },
  }),
  // Put the email in the ID token itself, as Microsoft's and Google's do.
  conformIdTokenClaims: false,
  features: { devInteractions: { enabled: true } },
});
const issue = provider.IdToken.prototype.issue;
provider.IdToken.prototype.issue = async function issueWithFault(options = {}) {
  const sub = String(this.available.sub || '');
  if (options.use === 'idtoken' && sub.startsWith('wrong-audience:')) {
    // The same provider and keys, for another client.
    this.client = Object.create(this.client, { clientId: { value: 'another-application' } });
  }
  if (options.use === 'idtoken' && sub.startsWith('expired:')) {
    return issue.call(this, { ...options, expiresAt: Math.floor(Date.now() / 1000) - 3600 });
  }
  return issue.call(this, options);
};
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
