-- Passwords Ward keeps itself (issue 24): a pupil's (or other person's) Ward password, for
-- schools whose pupils have no directory account (set by staff as a starting password that
-- must be changed at the first log-in at the portal); and when each password was last set,
-- for the change reminders of the school's password rules.
ALTER TABLE people ADD COLUMN password_hash TEXT;
ALTER TABLE people ADD COLUMN must_change_password BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE people ADD COLUMN password_changed_at BIGINT;
ALTER TABLE accounts ADD COLUMN password_changed_at BIGINT;
