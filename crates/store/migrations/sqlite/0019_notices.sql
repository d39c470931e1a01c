-- Telling staff (issue 26). `notified_at`: when Ward told the roles that act on it about a new
-- incident (recorded by someone who does not manage incidents) or a new unblock request: claimed
-- by one gateway's notifier, given back if the message cannot be sent. What was there before this
-- version is taken as told.
ALTER TABLE incidents ADD COLUMN notified_at BIGINT;
ALTER TABLE unblock_requests ADD COLUMN notified_at BIGINT;
UPDATE incidents SET notified_at = created_at;
UPDATE unblock_requests SET notified_at = created_at;

-- "Alert these staff": a message from one account to another about an alert or an incident, with
-- its read receipt. `target`: `alert:ID` or `incident:ID`. `read_at`: when the recipient first
-- opened the target after it was sent. `emailed_at`: claimed for email (NULL: not yet; a
-- recipient without an email address has it in the console only).
CREATE TABLE notices (
    id           INTEGER PRIMARY KEY,
    school_id    BIGINT NOT NULL REFERENCES schools(id),
    created_at   BIGINT NOT NULL,
    sent_by      TEXT NOT NULL,
    recipient_id BIGINT NOT NULL REFERENCES accounts(id),
    target       TEXT NOT NULL,
    message      TEXT NOT NULL,
    emailed_at   BIGINT,
    read_at      BIGINT
);
CREATE INDEX notices_recipient ON notices (school_id, recipient_id, read_at);
CREATE INDEX notices_target ON notices (school_id, target, id);
CREATE INDEX notices_to_email ON notices (school_id, emailed_at, id);
