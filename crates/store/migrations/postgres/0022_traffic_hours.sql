-- Requests per school, hour and set of categories (issue 26): the dashboard's counts for today
-- and its trends over days and weeks, without reading a term's events. The event writer adds to
-- them in the same transaction as the events. `hour`: the hour's start, in microseconds since
-- 1970 (UTC); `categories`: the blocked requests' categories as events record them (empty for
-- allowed requests, which are counted per site in `browsing_counts`).
CREATE TABLE traffic_hours (
    school_id  BIGINT NOT NULL,
    hour       BIGINT NOT NULL,
    categories TEXT NOT NULL,
    allowed    BIGINT NOT NULL DEFAULT 0,
    blocked    BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (school_id, hour, categories)
);
INSERT INTO traffic_hours (school_id, hour, categories, allowed, blocked)
    SELECT school_id, hour, categories, SUM(allowed), SUM(blocked) FROM (
        SELECT school_id, hour, '' AS categories, requests AS allowed, 0 AS blocked
        FROM browsing_counts
        UNION ALL
        SELECT school_id, (at / 3600000000) * 3600000000 AS hour, categories, 0 AS allowed,
               requests AS blocked
        FROM events WHERE action = 'block'
    ) AS counted
    GROUP BY school_id, hour, categories;
-- Alerts raised per day, for the same trends.
CREATE INDEX alerts_school_created ON alerts (school_id, created_at);
-- The queue's order (most severe, then newest) and the unopened severity-5 alerts every page
-- asks for, straight from the index.
DROP INDEX alerts_school_status;
CREATE INDEX alerts_school_status ON alerts (school_id, status, severity, created_at);
-- One pupil's alerts in the queue's order (the queue's pupil filter, the chronology).
CREATE INDEX alerts_school_person ON alerts (school_id, person_id, status, severity, created_at);
