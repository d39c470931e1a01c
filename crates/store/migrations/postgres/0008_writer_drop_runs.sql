-- Drops are recorded as each writer run's running total (issue 20, item 17): a write that timed
-- out but committed later, then was sent again, used to add its count twice. Rows from before
-- this migration keep run '' and their counts.
ALTER TABLE writer_drops ADD COLUMN run TEXT NOT NULL DEFAULT '';
CREATE UNIQUE INDEX writer_drops_run ON writer_drops (gateway, run) WHERE run <> '';
