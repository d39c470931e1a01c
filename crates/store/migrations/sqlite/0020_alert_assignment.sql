-- Assigning an alert to a colleague (issue 26): `assigned_to` is the account username it waits
-- for (NULL: anyone who triages). Each assignment is also a line of the alert's history.
ALTER TABLE alerts ADD COLUMN assigned_to TEXT;
CREATE INDEX alerts_school_assigned ON alerts (school_id, assigned_to, status);
