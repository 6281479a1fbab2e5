package activities

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
)

// TestMemoryReadsWhatPagesStored: a connector's memory reads the
// fingerprints a page stored for its connection and the payloads of the
// tenant's stored Signals by the connector's own dedupe keys.
func TestMemoryReadsWhatPagesStored(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	schema := dbtest.NewSchema(t)
	tenant, conn := dbtest.Seed(t, schema.DB, "Acme", "google-calendar", "42")
	require.NoError(t, schema.DB.WithTenant(ctx, tenant, func(tx *db.Tx) error {
		if _, err := tx.InsertSignals(ctx, conn, "google-calendar", []db.NewSignal{{
			Kind: "calendar_event.created", OccurredAt: time.Now(), DedupeKey: "event:c:e1:created",
			Payload: []byte(`{"title":"Press call","url":"u","actor":{"id":"a","name":"A"},"subject":{"type":"calendar_event","id":"e1"},"context":{"type":"calendar","id":"c"},"attributes":{"location":"Zoom"}}`),
		}}); err != nil {
			return err
		}
		return tx.PutFingerprints(ctx, conn, fingerprints(map[string]connectors.Fingerprint{
			"event:c:e1": {Hash: "h1", SignalKey: "event:c:e1:created"},
		}))
	}))
	m := memory{db: schema.DB, ref: poblysh.ConnectionRef{TenantID: tenant, ConnectionID: conn, Provider: "google-calendar"}}

	fps, err := m.Fingerprints(ctx, []string{"event:c:e1", "event:c:e2"})
	require.NoError(t, err)
	require.Equal(t, map[string]connectors.Fingerprint{"event:c:e1": {Hash: "h1", SignalKey: "event:c:e1:created"}}, fps)

	sigs, err := m.Signals(ctx, []string{"event:c:e1:created", "event:c:e2:created"})
	require.NoError(t, err)
	require.Len(t, sigs, 1)
	require.Equal(t, "Press call", sigs["event:c:e1:created"].Title)
	require.Equal(t, "Zoom", sigs["event:c:e1:created"].Attributes["location"])

	other := memory{db: schema.DB, ref: poblysh.ConnectionRef{TenantID: tenant, ConnectionID: conn, Provider: "github"}}
	sigs, err = other.Signals(ctx, []string{"event:c:e1:created"})
	require.NoError(t, err)
	require.Empty(t, sigs, "keys are the provider's own")
}
