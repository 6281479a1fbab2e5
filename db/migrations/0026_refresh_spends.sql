-- +goose Up
-- A refresher commits which refresh token it is about to spend before it
-- calls the provider: refresh_spend is a SHA-256 of the connection id and
-- that token (never the token), refresh_spend_at when the spend began.
-- The token lock is a session's advisory lock; when that session dies
-- while the provider answers, a waiting refresher gets the lock and reads
-- the token just spent. Finding it marked, it waits for the answer to be
-- stored instead of spending a single-use token again. Storing tokens
-- clears the mark.
ALTER TABLE connections ADD COLUMN refresh_spend bytea, ADD COLUMN refresh_spend_at timestamptz;
