-- +goose Up
-- A recorded nudge is sent outside any transaction and then deleted only
-- as it was read: a push recorded meanwhile bumps seq, so its nudge stays
-- for the next round (it used to coalesce into the row being sent, which
-- was then deleted with it, unsent).
ALTER TABLE pending_nudges ADD COLUMN seq bigint NOT NULL DEFAULT 1;
