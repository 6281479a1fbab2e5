-- +goose Up
-- The database's own id (db.DB.Identity): a random UUID drawn once, when
-- this migration runs, in this one row. Workers put a hash of it, with
-- the database's name and the schema, into their Temporal identity, and a
-- worker refuses a task queue another database's worker polls. The
-- identity hashed the server's address and port instead, which two
-- servers reached alike share (a Unix socket, 127.0.0.1:5432 on two
-- hosts, one container address in two compose projects), so two stacks
-- could poll one queue and run each other's work against the wrong
-- database. Not tenant data: no row-level security; the application role
-- only reads it. A copy of the database (a restored dump, a snapshot)
-- keeps the id; the owner gives a copy its own with
-- UPDATE database_identity SET id = gen_random_uuid().
SELECT set_config('poblysh.system', 'on', true);

CREATE TABLE database_identity (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    id  uuid NOT NULL DEFAULT gen_random_uuid()
);

INSERT INTO database_identity DEFAULT VALUES;

GRANT SELECT ON database_identity TO poblysh_app;
