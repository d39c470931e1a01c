-- Parents' own links (issue 27, DESIGN.md A2): one per pupil and letter or email, for the
-- parent to endorse the child's agreement and answer the consent questions without an account.
-- Only SHA-256 hashes of the link's token and of the letter's short code are kept, so the table
-- cannot be used to answer for a parent. A link is good until it expires and for one answer
-- (`used_at`); a new link is made for a change of mind or a reminder.
CREATE TABLE parent_links (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    school_id   BIGINT NOT NULL REFERENCES schools(id),
    person_id   BIGINT NOT NULL REFERENCES people(id),
    token_hash  TEXT NOT NULL UNIQUE,
    code_hash   TEXT NOT NULL UNIQUE,
    email       TEXT,
    created_by  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT
);
CREATE INDEX parent_links_person ON parent_links (school_id, person_id, id);
