-- The coordinator's decision on an unblock request, and the grant an approval becomes: the
-- site (the request's, or narrower), for a group or one user, from start to end. An approved
-- request whose period has not ended is a grant in the live policy.
ALTER TABLE unblock_requests ADD COLUMN decided_by TEXT;
ALTER TABLE unblock_requests ADD COLUMN decided_at BIGINT;
ALTER TABLE unblock_requests ADD COLUMN decision_note TEXT;
ALTER TABLE unblock_requests ADD COLUMN grant_site TEXT;
ALTER TABLE unblock_requests ADD COLUMN grant_group TEXT;
ALTER TABLE unblock_requests ADD COLUMN grant_user TEXT;
ALTER TABLE unblock_requests ADD COLUMN grant_start BIGINT;
ALTER TABLE unblock_requests ADD COLUMN grant_end BIGINT;
CREATE INDEX unblock_requests_grants ON unblock_requests (school_id, status, grant_end);
