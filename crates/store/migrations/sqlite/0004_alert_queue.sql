-- The safeguarding alert queue (DESIGN.md M3, M4).
-- `source`: where the alert came from: `system` (Ward itself), `blocked` (a blocked attempt in a
-- serious category), `concern` (reported from the block page), `detection` (risk phrases).
-- `subject`: who it is about, as events count it (`person:ID`, `device:ID` or `ip:ADDRESS`);
-- repeats of one subject and category within the alert window are folded into one alert,
-- `repeats` counting them and `last_seen` the latest.
-- `notified_at`: when the immediate notification (email, webhook) went, for high severities.
ALTER TABLE alerts ADD COLUMN source TEXT NOT NULL DEFAULT 'system';
ALTER TABLE alerts ADD COLUMN subject TEXT NOT NULL DEFAULT '';
ALTER TABLE alerts ADD COLUMN client_ip TEXT;
ALTER TABLE alerts ADD COLUMN username TEXT;
ALTER TABLE alerts ADD COLUMN detail TEXT NOT NULL DEFAULT '';
ALTER TABLE alerts ADD COLUMN last_seen BIGINT;
ALTER TABLE alerts ADD COLUMN notified_at BIGINT;
ALTER TABLE alerts ADD COLUMN incident_id BIGINT;
UPDATE alerts SET last_seen = created_at;
CREATE INDEX alerts_fold ON alerts (school_id, subject, category, created_at);
CREATE INDEX alerts_to_notify ON alerts (notified_at, severity);

-- Every change of an alert's status, with who, when and why: append-only, the alert's history.
CREATE TABLE alert_changes (
    id          INTEGER PRIMARY KEY,
    school_id   BIGINT NOT NULL REFERENCES schools(id),
    alert_id    BIGINT NOT NULL REFERENCES alerts(id),
    at          BIGINT NOT NULL,
    actor       TEXT NOT NULL,
    status      TEXT NOT NULL,
    note        TEXT NOT NULL
);
CREATE INDEX alert_changes_alert ON alert_changes (school_id, alert_id, at);

-- Summaries sent (the weekly one to the DSL): one row per school, kind and period, written
-- before sending so that two gateways, or a restart, never send the same one twice.
CREATE TABLE summaries_sent (
    school_id    BIGINT NOT NULL REFERENCES schools(id),
    kind         TEXT NOT NULL,
    period_start BIGINT NOT NULL,
    sent_at      BIGINT NOT NULL,
    PRIMARY KEY (school_id, kind, period_start)
);
