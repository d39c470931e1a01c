-- Welfare concerns, several pupils on one incident, and the device it happened on (issue 26).
-- `welfare`: 1 when the incident is a concern about a pupil's welfare (its `kind` is then one of
-- ward-records' concern types, and it follows the welfare procedure), 0 for misuse (a row of the
-- sanctions tables).
-- `device_id`: the station resolved to a device when it was recorded (no reference: a device
-- removed later leaves the record as written, whose `station` still names it).
ALTER TABLE incidents ADD COLUMN welfare BIGINT NOT NULL DEFAULT 0;
ALTER TABLE incidents ADD COLUMN device_id BIGINT;

-- Everyone an incident is about: the person it was recorded about and any others added, each
-- of whom then finds it in their chronology.
CREATE TABLE incident_people (
    school_id   BIGINT NOT NULL REFERENCES schools(id),
    incident_id BIGINT NOT NULL REFERENCES incidents(id),
    person_id   BIGINT NOT NULL REFERENCES people(id),
    added_at    BIGINT NOT NULL,
    added_by    TEXT NOT NULL,
    PRIMARY KEY (school_id, incident_id, person_id)
);
CREATE INDEX incident_people_person ON incident_people (school_id, person_id, incident_id);
INSERT INTO incident_people (school_id, incident_id, person_id, added_at, added_by)
    SELECT school_id, id, person_id, created_at, created_by FROM incidents
    WHERE person_id IS NOT NULL;
