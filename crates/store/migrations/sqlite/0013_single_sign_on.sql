-- Single sign-on (issue 24): an account's email address (how an OpenID Connect sign-in finds
-- it), and the sign-ins under way: a hash of each request's state, with its nonce, PKCE
-- verifier and the page to go to, taken once (a replayed state finds nothing).
ALTER TABLE accounts ADD COLUMN email TEXT;
CREATE TABLE sso_states (
    state_hash TEXT PRIMARY KEY,
    nonce      TEXT NOT NULL,
    verifier   TEXT NOT NULL,
    next       TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
