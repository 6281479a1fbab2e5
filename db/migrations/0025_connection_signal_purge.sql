-- +goose Up
-- A connection deleted with purge_signals=true is marked until its Signals
-- are gone. They are deleted in short transactions after the delete
-- commits (one DELETE of them all held every tenant's feed back for as
-- long as it ran), and a purge cut short (the process stopped) is finished
-- by the retention run or by repeating the delete. Signals ingested before
-- the mark's time are purged: infinity from the delete on, the time of a
-- re-connect that revives the connection meanwhile (its new Signals stay).
ALTER TABLE connections ADD COLUMN signals_purge_before timestamptz;
CREATE INDEX connections_signals_purge ON connections (signals_purge_before) WHERE signals_purge_before IS NOT NULL;
