-- The filtering policy's versions (issue 25): every change, from the console, an import or the
-- policy file, is a new version with who made it, when and why; the newest is in force. The
-- text is the policy document (TOML) exactly as it was saved, so an export is what was imported
-- and two versions compare line by line. Versions are never changed or deleted: restoring an
-- old one is a new version.
CREATE TABLE policy_versions (
    id          BIGSERIAL PRIMARY KEY,
    school_id   BIGINT NOT NULL REFERENCES schools(id),
    number      BIGINT NOT NULL,
    text        TEXT NOT NULL,
    -- `builtin`, `file`, `console`, `import`, `restore`.
    source      TEXT NOT NULL,
    reason      TEXT NOT NULL,
    author      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    UNIQUE (school_id, number)
);
