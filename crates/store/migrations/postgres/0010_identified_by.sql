-- How a front end knew who was behind an address (issue 24): `proxy-login`, `portal`,
-- `network` (Wi-Fi accounting), `device` or `address`; NULL for what was written before.
ALTER TABLE events ADD COLUMN identified_by TEXT;
ALTER TABLE alerts ADD COLUMN identified_by TEXT;
