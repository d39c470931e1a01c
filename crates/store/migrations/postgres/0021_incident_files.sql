-- Files attached to an incident (issue 26): a screenshot, a letter, a referral form. Kept in the
-- database with the record (so a backup holds them), with their SHA-256, never changed or
-- removed (like the record's entries). `content_type` is what Ward found the bytes to be, not
-- what the uploader's browser said; `name` is the file's name as uploaded, cleaned.
CREATE TABLE incident_files (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    school_id    BIGINT NOT NULL REFERENCES schools(id),
    incident_id  BIGINT NOT NULL REFERENCES incidents(id),
    uploaded_at  BIGINT NOT NULL,
    uploaded_by  TEXT NOT NULL,
    name         TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size         BIGINT NOT NULL,
    sha256       TEXT NOT NULL,
    data         BYTEA NOT NULL
);
CREATE INDEX incident_files_incident ON incident_files (school_id, incident_id, id);
CREATE FUNCTION incident_files_kept() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'incident files are kept as uploaded';
END;
$$;
CREATE TRIGGER incident_files_no_change BEFORE UPDATE OR DELETE ON incident_files
    FOR EACH ROW EXECUTE FUNCTION incident_files_kept();
