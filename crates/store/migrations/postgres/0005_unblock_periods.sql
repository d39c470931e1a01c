-- The period a request asks for: a request made in the console says when the class needs the
-- site (a lesson, a week of study); the coordinator's decision starts from it.
ALTER TABLE unblock_requests ADD COLUMN wanted_from BIGINT;
ALTER TABLE unblock_requests ADD COLUMN wanted_until BIGINT;
