-- +goose Up
-- Deliveries routed to several tenants are shared rows: a tenant-scoped
-- transaction may read the ones routed to it, but only the system (intake,
-- retention) may delete them.
CREATE POLICY webhook_events_system_delete ON webhook_events AS RESTRICTIVE FOR DELETE
    USING (poblysh_system());
