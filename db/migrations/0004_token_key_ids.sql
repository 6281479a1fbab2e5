-- +goose Up
-- Token ciphertexts: one key id per ciphertext column, and the previous
-- refresh token.
--
-- token_key_id named one key for the whole row, but a re-connect whose token
-- response carries no refresh token keeps the old refresh ciphertext (under
-- its old key) while the new access token is sealed under the current one:
-- the row then claimed the current key, re-encryption skipped it, and the
-- refresh token broke when the old key was retired. Every ciphertext names
-- its key ("pv1:<key id>:..."), so each column's key id is now generated
-- from the ciphertext itself and can never disagree with it.
--
-- prev_refresh_token_ct keeps the refresh token a rotating refresh spent, so
-- that when the current one is rejected the previous one can be tried once
-- (a provider with a reuse leeway, such as Jira's 10 minutes, still answers).

ALTER TABLE connections ADD COLUMN prev_refresh_token_ct text;

ALTER TABLE connections
    ADD COLUMN access_key_id text
        GENERATED ALWAYS AS (split_part(access_token_ct, ':', 2)) STORED,
    ADD COLUMN refresh_key_id text
        GENERATED ALWAYS AS (split_part(refresh_token_ct, ':', 2)) STORED,
    ADD COLUMN prev_refresh_key_id text
        GENERATED ALWAYS AS (split_part(prev_refresh_token_ct, ':', 2)) STORED;

DROP INDEX connections_key_id;
ALTER TABLE connections DROP COLUMN token_key_id;
