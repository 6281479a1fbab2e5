-- +goose Up
-- The reconciliation sweep reads the open jobs idle longest, a batch at a
-- time. A job whose workflow is rightly still running (a page retrying a
-- 429 stores no progress; a follow-up waits behind a long backfill) is not
-- settled, so it stayed among the idlest, and once a batch of them existed
-- every sweep read the same batch. checked_at records when the sweep last
-- found a job's workflow running; the sweep orders by it too and so moves
-- on. updated_at keeps meaning the job's own last change.
ALTER TABLE jobs ADD COLUMN checked_at timestamptz;
