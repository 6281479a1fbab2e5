-- +goose Up
-- The provider's raw objects (a Signal's raw, a delivery's body: a GitHub
-- push is 8-10 KB) are compressed by TOAST when stored. With Postgres's
-- default, pglz, inserting 5,000 rows of a 9.5 KB push body (as jsonb and
-- as text) took 1.1 s on this machine kind; with lz4 0.17 s, for a table a
-- third larger (docs/performance.md, change 17). Only values written from
-- now on use it. Servers built without lz4 keep pglz.

-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals)) THEN
        EXECUTE 'ALTER TABLE signals ALTER COLUMN raw SET COMPRESSION lz4';
        EXECUTE 'ALTER TABLE webhook_events ALTER COLUMN raw_body SET COMPRESSION lz4';
    END IF;
END
$$;
-- +goose StatementEnd
