-- Online-safety incidents (DESIGN.md S1–S4): the Appendix 1 record, the guided procedure, the
-- sanctions taken, and sign-off.
-- `audience`: `pupil` or `staff`: which procedure and which sanctions table apply.
-- `kind`: the row of that sanctions table (an id from the policy's sanctions tables).
-- `username`, `station`, `occurred_at`, `evidence`, `reported_by`: the Appendix 1 record, as
-- first written; a correction is an entry, never an update.
-- `child_protection`: 1 once the procedure has found a child protection concern; such incidents
-- are visible only to the DSL and the headteacher.
CREATE TABLE incidents (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    school_id        BIGINT NOT NULL REFERENCES schools(id),
    created_at       BIGINT NOT NULL,
    created_by       TEXT NOT NULL,
    audience         TEXT NOT NULL CHECK (audience IN ('pupil', 'staff')),
    kind             TEXT NOT NULL,
    person_id        BIGINT REFERENCES people(id),
    username         TEXT NOT NULL,
    station          TEXT NOT NULL,
    occurred_at      BIGINT,
    evidence         TEXT NOT NULL,
    reported_by      TEXT NOT NULL,
    child_protection BIGINT NOT NULL DEFAULT 0,
    status           TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    closed_at        BIGINT,
    closed_by        TEXT
);
CREATE INDEX incidents_school_status ON incidents (school_id, status, created_at);
CREATE INDEX incidents_school_person ON incidents (school_id, person_id, created_at);

-- Everything that happens to an incident, in order: notes, the procedure's answers, actions
-- taken, linked alerts, the sign-off. Append-only: a correction is a new entry whose `corrects`
-- names the entry it replaces; the triggers below refuse any UPDATE or DELETE.
CREATE TABLE incident_entries (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    school_id   BIGINT NOT NULL REFERENCES schools(id),
    incident_id BIGINT NOT NULL REFERENCES incidents(id),
    at          BIGINT NOT NULL,
    actor       TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('note', 'step', 'action', 'alert', 'signoff')),
    step        TEXT NOT NULL DEFAULT '',
    answer      TEXT NOT NULL DEFAULT '',
    note        TEXT NOT NULL DEFAULT '',
    corrects    BIGINT REFERENCES incident_entries(id)
);
CREATE INDEX incident_entries_incident ON incident_entries (school_id, incident_id, id);
CREATE FUNCTION incident_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'incident entries are append-only: add a correction instead';
END;
$$;
CREATE TRIGGER incident_entries_no_change BEFORE UPDATE OR DELETE ON incident_entries
    FOR EACH ROW EXECUTE FUNCTION incident_entries_append_only();

-- The blocked requests behind an incident (those of its escalated alerts, when it was opened).
CREATE TABLE incident_events (
    school_id   BIGINT NOT NULL REFERENCES schools(id),
    incident_id BIGINT NOT NULL REFERENCES incidents(id),
    event_id    BIGINT NOT NULL,
    PRIMARY KEY (school_id, incident_id, event_id)
);
