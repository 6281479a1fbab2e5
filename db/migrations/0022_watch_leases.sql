-- +goose Up
-- A delete and a watch pass in flight meet here: a watch pass holds a
-- lease (watch_lease_until, its activity's deadline) while it may register
-- channels at the provider, and takes none once a delete has marked the
-- connection (disconnecting_at, heeded for ten minutes: a delete that
-- failed half-way does not stop push for good). The delete marks first,
-- then waits for the lease to end before it lists the channels to stop
-- and revokes the token: a hook made meanwhile used to stay at the
-- provider with nothing left here that could stop it.
ALTER TABLE connections ADD COLUMN watch_lease_until timestamptz, ADD COLUMN disconnecting_at timestamptz;
