-- The activity search at a year's size (issue 26). `event_hosts`: each site (and the categories
-- it was blocked in) a school's recorded events have, kept by the event writer; a site or
-- category search first finds the matching sites here (thousands of rows, not millions), then
-- reads their events through `events_school_host`.
CREATE TABLE event_hosts (
    school_id  BIGINT NOT NULL,
    host       TEXT NOT NULL,
    categories TEXT NOT NULL,
    PRIMARY KEY (school_id, host, categories)
);
INSERT INTO event_hosts (school_id, host, categories)
    SELECT DISTINCT school_id, host, categories FROM events;
CREATE INDEX events_school_host ON events (school_id, host, at);
ANALYZE;
