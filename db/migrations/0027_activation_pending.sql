-- +goose Up
-- A connection is stored (its tokens, routes and claim committed) before
-- Temporal is asked to activate it: its polling schedule, watch channels
-- and first backfill, or, after an update, the change applied to them and
-- a catch-up sync. When Temporal cannot be reached then, the request still
-- answers with what it stored, and activation_pending says what is owed:
-- 'backfill' (a connect), 'sync' (an update that needs a catch-up) or
-- 'apply' (an update). It is set in the transaction that stores the
-- connection (a later update keeps the larger of the two), cleared once
-- the activation succeeded, unless another request marked the connection
-- again since (activation_pending_at differs), and the worker's activation
-- sweep does what is owed for connections still marked a minute later.
ALTER TABLE connections
	ADD COLUMN activation_pending text CHECK (activation_pending IN ('apply', 'sync', 'backfill')),
	ADD COLUMN activation_pending_at timestamptz,
	ADD CONSTRAINT connections_activation_pending_at CHECK ((activation_pending IS NULL) = (activation_pending_at IS NULL));
CREATE INDEX connections_activation_pending ON connections (activation_pending_at)
	WHERE activation_pending IS NOT NULL AND deleted_at IS NULL;
