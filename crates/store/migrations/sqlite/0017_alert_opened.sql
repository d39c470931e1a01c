-- When an alert was first opened, and by whom (issue 26): a severity-5 alert is shown at the top
-- of every page of the console until someone who triages alerts has opened it, and the alert's
-- page says who first read it and when.
ALTER TABLE alerts ADD COLUMN opened_at BIGINT;
ALTER TABLE alerts ADD COLUMN opened_by TEXT;
