-- Repeats of one blocked request (same client, name and verdict) within a few seconds are one
-- event with the number of requests it stands for (issue 21): a pupil's browser asking a
-- blocked name again and again no longer writes a row per query.
ALTER TABLE events ADD COLUMN requests BIGINT NOT NULL DEFAULT 1;
