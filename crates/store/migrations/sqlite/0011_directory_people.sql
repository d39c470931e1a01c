-- People read from the school's directory (issue 24): where a person's record comes from
-- (`mis`: a CSV import; `directory`: a directory synchronisation, which also marks leavers),
-- when they left (never deleted: their history stays), their email (for single sign-on), and
-- their own log-in lock-out, counted as console accounts' is.
ALTER TABLE people ADD COLUMN source TEXT NOT NULL DEFAULT 'mis';
ALTER TABLE people ADD COLUMN left_at BIGINT;
ALTER TABLE people ADD COLUMN email TEXT;
ALTER TABLE people ADD COLUMN failed_logins BIGINT NOT NULL DEFAULT 0;
ALTER TABLE people ADD COLUMN locked_until BIGINT;
