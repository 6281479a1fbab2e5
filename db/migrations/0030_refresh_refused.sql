-- +goose Up
-- When the provider refused a connection's stored refresh token for good
-- (invalid_grant, or the grant's end): the token-refresh sweep keeps a
-- refresh token alive only while this is NULL. A paused connection is kept
-- alive too, and its health stays disabled whatever a refresh finds (only
-- the operator's resume lifts it), so without this mark its dead token was
-- tried again every hour. Storing tokens (a refresh, a reconnect) clears
-- it.
ALTER TABLE connections ADD COLUMN refresh_refused_at timestamptz;
