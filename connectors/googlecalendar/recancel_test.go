package googlecalendar_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/connectors/googlecalendar"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
	"github.com/poblysh/poblysh/ingest"
	"github.com/poblysh/poblysh/sandbox"
	gcalsandbox "github.com/poblysh/poblysh/sandbox/googlecalendar"
)

// dbMemory is connectors.Memory on a migrated database, written as SyncPage
// writes a page (its Signals through InsertSignals, then its fingerprints):
// a Signal whose key the tenant has stored already is dropped, and what the
// connector reads back is what the engine would.
type dbMemory struct {
	s            *dbtest.Schema
	tenant, conn string
	// forget answers no fingerprint: a connection that lost them (deleted
	// and connected again, its Signals kept).
	forget bool
}

func newDBMemory(t *testing.T) *dbMemory {
	t.Helper()
	s := dbtest.NewSchema(t)
	tenant, conn := dbtest.Seed(t, s.DB, t.Name(), googlecalendar.Spec.Name, "calendar-user")
	return &dbMemory{s: s, tenant: tenant, conn: conn}
}

// sibling is another connection of m's tenant on the same schema (another
// account of the tenant, reading the same shared calendar): its own
// fingerprints, the tenant's Signals.
func (m *dbMemory) sibling(t *testing.T, account string) *dbMemory {
	t.Helper()
	var conn string
	require.NoError(t, m.s.DB.WithTenant(context.Background(), m.tenant, func(tx *db.Tx) error {
		c, _, err := tx.UpsertConnection(context.Background(), db.ConnectionUpsert{
			Provider: googlecalendar.Spec.Name, ExternalAccountID: account, DisplayName: account})
		if err == nil {
			conn = c.ID
		}
		return err
	}))
	return &dbMemory{s: m.s, tenant: m.tenant, conn: conn}
}

func (m *dbMemory) Fingerprints(ctx context.Context, keys []string) (map[string]connectors.Fingerprint, error) {
	out := map[string]connectors.Fingerprint{}
	if m.forget {
		return out, nil
	}
	err := m.s.DB.WithTenant(ctx, m.tenant, func(tx *db.Tx) error {
		fps, err := tx.Fingerprints(ctx, m.conn, keys)
		for k, f := range fps {
			out[k] = connectors.Fingerprint{Hash: f.Hash, SignalKey: f.SignalKey}
		}
		return err
	})
	return out, err
}

func (m *dbMemory) Signals(ctx context.Context, keys []string) (map[string]connectors.Payload, error) {
	out := map[string]connectors.Payload{}
	err := m.s.DB.WithTenant(ctx, m.tenant, func(tx *db.Tx) error {
		payloads, err := tx.SignalPayloads(ctx, googlecalendar.Spec.Name, keys)
		for k, raw := range payloads {
			var p connectors.Payload
			if err := json.Unmarshal(raw, &p); err != nil {
				return err
			}
			out[k] = p
		}
		return err
	})
	return out, err
}

// put stores a page and returns the Signals the store kept (each inserted
// on its own, so the answer names them).
func (m *dbMemory) put(t *testing.T, p *connectors.Page) []connectors.Signal {
	t.Helper()
	ctx := context.Background()
	var kept []connectors.Signal
	require.NoError(t, m.s.DB.WithTenantSignals(ctx, m.tenant, func(tx *db.Tx) error {
		for _, s := range p.Signals {
			rows, err := ingest.Rows([]connectors.Signal{s})
			if err != nil {
				return err
			}
			out, err := tx.InsertSignals(ctx, m.conn, googlecalendar.Spec.Name, rows)
			if err != nil {
				return err
			}
			if len(out.Kinds) == 1 {
				kept = append(kept, s)
			}
		}
		fps := map[string]db.Fingerprint{}
		for k, f := range p.Fingerprints {
			fps[k] = db.Fingerprint{Hash: f.Hash, SignalKey: f.SignalKey}
		}
		return tx.PutFingerprints(ctx, m.conn, fps)
	}))
	return kept
}

// readPage reads one page against mem at now, storing nothing.
func (h *harness) readPage(t *testing.T, mem connectors.Memory, cursor json.RawMessage, now time.Time) *connectors.Page {
	t.Helper()
	p, err := h.prov.Connector.(connectors.Syncer).FetchPage(context.Background(), connectors.PageRequest{
		Connection: h.conn, Stream: primaryStream, Cursor: cursor, HTTP: h.client(), Now: now, Memory: mem,
	})
	require.NoError(t, err)
	return p
}

// passInto reads the primary calendar to the end of a pass, storing each
// page in mem, and returns what was kept and the resting cursor.
func (h *harness) passInto(t *testing.T, mem *dbMemory, cursor json.RawMessage) ([]connectors.Signal, json.RawMessage) {
	t.Helper()
	var kept []connectors.Signal
	for range 100 {
		p := h.readPage(t, mem, cursor, time.Now())
		kept = append(kept, mem.put(t, p)...)
		cursor = p.Next
		if p.Done {
			return kept, cursor
		}
	}
	t.Fatal("stream did not finish")
	return nil, nil
}

// keys lists "kind key" of Signals about one event.
func keysOf(sigs []connectors.Signal, eventID string) []string {
	var out []string
	for _, s := range sigs {
		if s.Payload.Subject.ID == eventID {
			out = append(out, s.Kind+" "+s.DedupeKey)
		}
	}
	return out
}

// An event cancelled, restored and cancelled again was cancelled twice,
// and the second cancellation is stored: it was keyed
// event:<cal>:<id>:cancelled as the first, and dropped by the store. A
// first cancellation keeps that key (a resync that lost the fingerprints
// derives it again); a later one, of an event the connection remembers
// live since, is keyed by its time: Google's updated, or, for a
// cancellation sent as its id alone, the updated time of the live state
// remembered (the restore's), which a page read again at another time
// reads the same.
func TestRestoredEventCancelledAgainIsStored(t *testing.T) {
	for _, tc := range []struct {
		name, id string
		// idOnly: an invitation from Grace, whose cancellation Google
		// sends as its id and status (no updated).
		idOnly bool
	}{
		{"listed in full", dryRunID, false},
		{"id only", "oneonegrace2c4e6g8i0k2m4o", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, gcalsandbox.Options{Seed: true, PageSize: 3}, nil)
			mem := newDBMemory(t)
			ctx := context.Background()
			key := "event:" + h.sb.User() + ":" + tc.id
			cancel := func() string {
				ev, _, err := h.sb.CancelEvent(ctx, "primary", tc.id, sandbox.DeliveryOptions{})
				require.NoError(t, err)
				return ev.Updated
			}
			restore := func() string {
				ev, _, err := h.sb.UpdateEvent(ctx, "primary", tc.id, gcalsandbox.EventInput{Status: "confirmed"}, sandbox.DeliveryOptions{})
				require.NoError(t, err)
				return ev.Updated
			}

			stored, resting := h.passInto(t, mem, nil)
			if !tc.idOnly { // seeded cancelled
				require.Equal(t, []string{"calendar_event.cancelled " + key + ":cancelled"}, keysOf(stored, tc.id))
			} else {
				require.Equal(t, []string{"calendar_event.created " + key + ":created"}, keysOf(stored, tc.id))
				cancel()
				stored, resting = h.passInto(t, mem, resting)
				require.Equal(t, []string{"calendar_event.cancelled " + key + ":cancelled"}, keysOf(stored, tc.id), "a first cancellation")
			}

			for cycle := range 2 {
				restored := restore()
				stored, resting = h.passInto(t, mem, resting)
				require.Len(t, keysOf(stored, tc.id), 1)
				require.Equal(t, googlecalendar.KindUpdated, stored[0].Kind, "restored")
				cancelled := cancel()

				// The page read twice, an hour apart, before it is stored
				// (a retried page): the same key.
				p := h.readPage(t, mem, resting, time.Now())
				again := h.readPage(t, mem, resting, time.Now().Add(time.Hour))
				require.Len(t, p.Signals, 1)
				require.Equal(t, keysOf(p.Signals, tc.id), keysOf(again.Signals, tc.id))
				stored = mem.put(t, p)
				resting = p.Next
				require.Equal(t, keysOf(p.Signals, tc.id), keysOf(stored, tc.id), "cancelled again (cycle %d): stored", cycle)
				want := key + ":cancelled:"
				if tc.idOnly {
					want += fmt.Sprint(mustParse(t, restored).UnixMilli())
				} else {
					want += fmt.Sprint(mustParse(t, cancelled).UnixMilli())
				}
				require.Equal(t, []string{"calendar_event.cancelled " + want}, keysOf(stored, tc.id))
			}

			// A full sync that lost the fingerprints (the connection deleted
			// and made again, its Signals kept) derives the first
			// cancellation's key: nothing is stored twice.
			mem.forget = true
			h.sb.ExpireSyncTokens()
			stored, _ = h.passInto(t, mem, nil)
			require.Empty(t, keysOf(stored, tc.id))
		})
	}
}

// Two connections of one tenant on the same calendar share its dedupe keys
// (google-calendar.md): a cancellation both see is stored once. Each
// remembers the event live when it is first cancelled; the first to sync
// stores event:<cal>:<id>:cancelled, and the other, reading that Signal
// stored by its sibling, took its own sight of the same cancellation for
// one after a restore and stored it again as …:cancelled:<ms>. Only a
// connection that saw the event cancelled before keys a cancellation by
// its time; cancelled again after a restore, the event is stored once
// more, under one key whichever connection syncs first.
func TestSiblingConnectionsStoreOneCancellation(t *testing.T) {
	for _, tc := range []struct {
		name, id string
		idOnly   bool
	}{
		{"listed in full", "q3roadmapreview0a1b2c3d4e", false},
		{"id only", "oneonegrace2c4e6g8i0k2m4o", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, gcalsandbox.Options{Seed: true, PageSize: 3}, nil)
			a := newDBMemory(t)
			b := a.sibling(t, "calendar-user-2")
			ctx := context.Background()
			key := "event:" + h.sb.User() + ":" + tc.id
			var restsA, restsB json.RawMessage
			// both syncs a and b in turn (b first when bFirst) and returns
			// what the store kept of the event.
			both := func(bFirst bool) []string {
				var kA, kB []connectors.Signal
				if bFirst {
					kB, restsB = h.passInto(t, b, restsB)
				}
				kA, restsA = h.passInto(t, a, restsA)
				if !bFirst {
					kB, restsB = h.passInto(t, b, restsB)
				}
				return keysOf(append(kA, kB...), tc.id)
			}

			require.Equal(t, []string{"calendar_event.created " + key + ":created"}, both(false))

			_, _, err := h.sb.CancelEvent(ctx, "primary", tc.id, sandbox.DeliveryOptions{})
			require.NoError(t, err)
			require.Equal(t, []string{"calendar_event.cancelled " + key + ":cancelled"}, both(false),
				"the first cancellation, seen by both connections: stored once")

			restored, _, err := h.sb.UpdateEvent(ctx, "primary", tc.id, gcalsandbox.EventInput{Status: "confirmed"}, sandbox.DeliveryOptions{})
			require.NoError(t, err)
			stored := both(false)
			require.Len(t, stored, 1, "restored: stored once")

			cancelled, _, err := h.sb.CancelEvent(ctx, "primary", tc.id, sandbox.DeliveryOptions{})
			require.NoError(t, err)
			want := key + ":cancelled:" + fmt.Sprint(mustParse(t, cancelled.Updated).UnixMilli())
			if tc.idOnly {
				want = key + ":cancelled:" + fmt.Sprint(mustParse(t, restored.Updated).UnixMilli())
			}
			require.Equal(t, []string{"calendar_event.cancelled " + want}, both(true),
				"cancelled again after a restore: stored once more, whichever connection syncs first")
		})
	}
}

func mustParse(t *testing.T, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339Nano, s)
	require.NoError(t, err)
	return tm
}
