-- When those who manage training were told a course is due again (issue 27, A5): claimed once,
-- across gateways, by the notifier.
ALTER TABLE training_records ADD COLUMN reminded_at BIGINT;
