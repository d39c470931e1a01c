-- Two-factor sign-in (issue 24): an account's TOTP secret (RFC 6238), the last time step
-- accepted (a code is good once), and for each session whether its second factor is still
-- to come (`code`: asked for a code; `enrol`: must set one up first; `done`). A secret being set
-- up waits in `totp_pending` until a code from it is typed.
ALTER TABLE accounts ADD COLUMN totp_secret TEXT;
ALTER TABLE accounts ADD COLUMN totp_last_step BIGINT;
ALTER TABLE accounts ADD COLUMN totp_pending TEXT;
ALTER TABLE sessions ADD COLUMN second_factor TEXT NOT NULL DEFAULT 'done';
