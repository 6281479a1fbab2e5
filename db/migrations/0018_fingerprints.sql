-- +goose Up
-- What a connector remembers of each provider object between pages: a hash
-- of the fields whose change is worth a Signal, and the dedupe key of the
-- last Signal that carried that state. Google Calendar bumps an event's
-- updated time for an RSVP or a reminder; only a change of the hash is a
-- calendar_event.updated (docs/decisions.md, "Calendar event fingerprints").
-- Written in the transaction that stores the page's Signals and cursor.
CREATE TABLE fingerprints (
    connection_id uuid NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    tenant_id     uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    key           text NOT NULL,
    hash          text NOT NULL,
    signal_key    text NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (connection_id, key)
);

ALTER TABLE fingerprints ENABLE ROW LEVEL SECURITY;
ALTER TABLE fingerprints FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON fingerprints
    USING (tenant_id = poblysh_tenant() OR poblysh_system())
    WITH CHECK (tenant_id = poblysh_tenant() OR poblysh_system());

GRANT SELECT, INSERT, UPDATE, DELETE ON fingerprints TO poblysh_app;
