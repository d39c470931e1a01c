-- Console accounts from the school's directory (issue 24): members of the directory groups
-- that `[[directory.roles]]` names get a console account with those roles, whose password is
-- the directory's (checked by a bind; the hash column holds a marker no password matches).
-- `local` accounts are Ward's own and the directory never changes them.
ALTER TABLE accounts ADD COLUMN source TEXT NOT NULL DEFAULT 'local';
