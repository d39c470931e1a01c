-- Requests per school and hour (issue 26: the dashboard's trends over days and weeks without
-- reading a term's events): allowed and blocked, added by the event writer in the same
-- transaction as the events. `hour`: the hour's start, in microseconds since 1970 (UTC).
CREATE TABLE traffic_hours (
    school_id BIGINT NOT NULL,
    hour      BIGINT NOT NULL,
    allowed   BIGINT NOT NULL DEFAULT 0,
    blocked   BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (school_id, hour)
);
INSERT INTO traffic_hours (school_id, hour, allowed, blocked)
    SELECT school_id, hour, SUM(allowed), SUM(blocked) FROM (
        SELECT school_id, hour, requests AS allowed, 0 AS blocked FROM browsing_counts
        UNION ALL
        SELECT school_id, (at / 3600000000) * 3600000000 AS hour, 0 AS allowed, requests AS blocked
        FROM events WHERE action = 'block'
    ) AS counted
    GROUP BY school_id, hour;
-- Alerts raised per day, for the same trends.
CREATE INDEX alerts_school_created ON alerts (school_id, created_at);
