-- The classes a member of staff teaches (issue 27): a teacher reads their own classes' photo
-- consent, not other classes'. Set on the accounts page by the headteacher or technician.
CREATE TABLE account_classes (
    school_id  BIGINT NOT NULL REFERENCES schools(id),
    account_id BIGINT NOT NULL REFERENCES accounts(id),
    class_name TEXT NOT NULL,
    PRIMARY KEY (account_id, class_name)
);
