-- +goose Up
-- Writers of Signals announce themselves before they get a transaction id.
--
-- The feed exposes a row only when no transaction that could still commit a
-- Signal below it is running (the feed horizon, db/signal.go). A
-- transaction that will insert Signals takes a ROW EXCLUSIVE lock on this
-- schema's signals table before its first write (so before it has an id);
-- the horizon then waits only for the ids of transactions holding that
-- lock, and writers of other tables, other schemas of the same database
-- and other databases hold nothing back. The function refuses a
-- transaction that already has an id: its id could be below rows the feed
-- has exposed.

-- +goose StatementBegin
CREATE FUNCTION poblysh_lock_signals() RETURNS void
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF pg_current_xact_id_if_assigned() IS NOT NULL THEN
        RAISE EXCEPTION 'a transaction must lock signals before its first write'
            USING HINT = 'call db.Tx.LockSignals first: the feed horizon waits only for transactions that hold the lock';
    END IF;
    LOCK TABLE signals IN ROW EXCLUSIVE MODE;
END
$$;
-- +goose StatementEnd

GRANT EXECUTE ON FUNCTION poblysh_lock_signals() TO poblysh_app;
