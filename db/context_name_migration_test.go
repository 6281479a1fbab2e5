package db_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
)

// Every Signal's payload.context carries a name (the payload core; swagger's
// SignalContext requires it), but earlier versions stored Slack Signals
// pushed before a sync had cached their channel, and Zoho Cliq calls of a
// chat without a title, without one, which a client validating against the
// spec refuses. Migration 0042 names each such context by its id, as the
// connectors now do, and leaves alone a context that has a name, one
// without an id, and other providers' Signals; re-run, it changes nothing
// more. The Signals keep their feed position.
func TestStoredContextsWithoutANameAreNamedByTheirID(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	tenant, slack := dbtest.Seed(t, s.DB, t.Name(), "slack", "T1")
	var cliq, github string
	require.NoError(t, s.DB.WithTenant(ctx, tenant, func(tx *db.Tx) error {
		c, _, err := tx.UpsertConnection(ctx, db.ConnectionUpsert{Provider: "zoho-cliq", ExternalAccountID: "60040386526"})
		if err != nil {
			return err
		}
		cliq = c.ID
		c, _, err = tx.UpsertConnection(ctx, db.ConnectionUpsert{Provider: "github", ExternalAccountID: "583231"})
		github = c.ID
		return err
	}))
	at := time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)
	put := func(conn, source, key, context string) {
		t.Helper()
		payload := `{"title":"t","url":"","actor":{"id":"U1","name":""},"subject":{"type":"message","id":"1.2"},"context":` + context + `,"attributes":{"text":"hi"}}`
		require.NoError(t, s.DB.WithTenantSignals(ctx, tenant, func(tx *db.Tx) error {
			_, err := tx.InsertSignals(ctx, conn, source, []db.NewSignal{{Kind: "message.posted", OccurredAt: at, DedupeKey: key, Payload: []byte(payload)}})
			return err
		}))
	}
	put(slack, "slack", "msg:C1:1", `{"type":"channel","id":"C061EG9SL"}`)
	put(slack, "slack", "msg:C1:2", `{"type":"channel","id":"C061EG9SL","name":""}`)
	put(slack, "slack", "msg:C1:3", `{"type":"channel","id":"C061EG9SL","name":"general"}`)
	put(slack, "slack", "msg:C1:4", `{"type":"","id":""}`)
	put(cliq, "zoho-cliq", "msg:CT_1:5", `{"type":"chat","id":"CT_1207124540483314854_20071845"}`)
	put(github, "github", "commit:6", `{"type":"repository","id":"1296269"}`)

	contexts := func() map[string]map[string]any {
		t.Helper()
		out := map[string]map[string]any{}
		require.NoError(t, s.DB.WithTenant(ctx, tenant, func(tx *db.Tx) error {
			var rows []struct {
				Key     string `db:"dedupe_key"`
				Payload []byte `db:"payload"`
			}
			if err := tx.SelectContext(ctx, &rows, `SELECT dedupe_key, payload FROM signals`); err != nil {
				return err
			}
			for _, r := range rows {
				var p struct {
					Context map[string]any `json:"context"`
				}
				if err := json.Unmarshal(r.Payload, &p); err != nil {
					return err
				}
				out[r.Key] = p.Context
			}
			return nil
		}))
		return out
	}
	feed := func() []string {
		t.Helper()
		var keys []string
		require.NoError(t, s.DB.WithTenant(ctx, tenant, func(tx *db.Tx) error {
			return tx.SelectContext(ctx, &keys, `SELECT dedupe_key FROM signals ORDER BY txid, seq`)
		}))
		return keys
	}
	order := feed()
	want := map[string]map[string]any{
		"slack:msg:C1:1":       {"type": "channel", "id": "C061EG9SL", "name": "C061EG9SL"},
		"slack:msg:C1:2":       {"type": "channel", "id": "C061EG9SL", "name": "C061EG9SL"},
		"slack:msg:C1:3":       {"type": "channel", "id": "C061EG9SL", "name": "general"},
		"slack:msg:C1:4":       {"type": "", "id": ""},
		"zoho-cliq:msg:CT_1:5": {"type": "chat", "id": "CT_1207124540483314854_20071845", "name": "CT_1207124540483314854_20071845"},
		"github:commit:6":      {"type": "repository", "id": "1296269"},
	}
	require.Len(t, contexts(), len(want))

	s.Replay(t, 42, "poblysh_app") // as a schema owner that is no superuser
	require.Equal(t, want, contexts())
	require.Equal(t, order, feed(), "the feed keeps its order")

	s.Replay(t, 42, "poblysh_app")
	require.Equal(t, want, contexts(), "re-run: nothing more changes")
}
