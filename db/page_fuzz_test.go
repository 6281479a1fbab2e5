package db_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
)

// Fuzz targets over every cursor the API accepts. The property: whatever a
// client sends as a cursor, each list query either refuses it with an
// invalid_request error (a 400) or runs; it never panics and never reaches
// Postgres with a value that fails there (a 500). `go test` runs the seeds
// (real cursors and known tricks); `make fuzz` explores further.

// pageLister is one list query that takes a keyset page cursor.
type pageLister struct {
	name string
	list func(ctx context.Context, tx *db.Tx, cursor string) (string, error)
}

var since = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

var pageListers = []pageLister{
	{"connections", func(ctx context.Context, tx *db.Tx, c string) (string, error) {
		_, next, err := tx.ListConnections(ctx, db.ConnectionFilter{Page: db.Page{Cursor: c, Limit: 1}})
		return next, err
	}},
	{"jobs", func(ctx context.Context, tx *db.Tx, c string) (string, error) {
		_, next, err := tx.ListJobs(ctx, db.JobFilter{Page: db.Page{Cursor: c, Limit: 1}})
		return next, err
	}},
	{"api-keys", func(ctx context.Context, tx *db.Tx, c string) (string, error) {
		_, next, err := tx.ListAPIKeys(ctx, db.Page{Cursor: c, Limit: 1})
		return next, err
	}},
	{"signals by time", func(ctx context.Context, tx *db.Tx, c string) (string, error) {
		_, next, err := tx.ListSignals(ctx, db.SignalFilter{Since: &since, Cursor: c, Limit: 1})
		return next, err
	}},
}

// cursorFixture is a tenant with two of everything, so every list has a
// next page and a real cursor.
type cursorFixture struct {
	db     *db.DB
	tenant string
}

func newCursorFixture(t testing.TB) cursorFixture {
	t.Helper()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	var f cursorFixture
	f.db = s.DB
	require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) error {
		tn, _, _, err := tx.CreateTenant(ctx, "cursors")
		f.tenant = tn.ID
		return err
	}))
	require.NoError(t, s.DB.WithTenant(ctx, f.tenant, func(tx *db.Tx) error {
		if err := tx.LockSignals(ctx); err != nil { // it writes other rows before its Signals
			return err
		}
		if _, _, err := tx.CreateAPIKey(ctx, "second"); err != nil {
			return err
		}
		for i := range 2 {
			c, _, err := tx.UpsertConnection(ctx, db.ConnectionUpsert{Provider: "fake", ExternalAccountID: fmt.Sprintf("acct-%d", i)})
			if err != nil {
				return err
			}
			if _, err := tx.EnsureJob(ctx, db.Job{ID: uuid.NewString(), ConnectionID: c.ID, Provider: "fake",
				Kind: poblysh.JobBackfill, Trigger: poblysh.TriggerManual, WorkflowID: "wf-" + c.ID}); err != nil {
				return err
			}
			if _, err := tx.InsertSignals(ctx, c.ID, "fake", []db.NewSignal{sig(fmt.Sprintf("k%d", i), "item.created")}); err != nil {
				return err
			}
		}
		return nil
	}))
	return f
}

func (f cursorFixture) in(t testing.TB, fn func(ctx context.Context, tx *db.Tx) error) error {
	t.Helper()
	ctx := context.Background()
	return f.db.WithTenant(ctx, f.tenant, func(tx *db.Tx) error { return fn(ctx, tx) })
}

// requireRefusedOrRun is the property: nil, or an invalid_request error.
func requireRefusedOrRun(t *testing.T, what, cursor string, err error) {
	t.Helper()
	if err != nil && poblysh.ErrorCode(err) != poblysh.EINVALID {
		t.Fatalf("%s with cursor %q: %v (code %s), want success or invalid_request", what, cursor, err, poblysh.ErrorCode(err))
	}
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// cursorTricks are hand-made cursors: forged, garbled and mixed up.
var cursorTricks = []string{
	"", "!!!", "====", "\x00", b64("null"), b64("[]"), b64(`"x"`), b64("{}"),
	b64(`{"t":"2026-01-01T00:00:00Z","i":"not-a-uuid"}`),
	b64(`{"t":"2026-01-01T00:00:00Z","i":"00000000-0000-0000-0000-00000000000g"}`),
	b64(`{"t":"2026-01-01T00:00:00Z","i":"urn:uuid:6ba7b810-9dad-11d1-80b4-00c04fd430c8"}`),
	b64(`{"t":"2026-01-01T00:00:00Z","i":"{6ba7b810-9dad-11d1-80b4-00c04fd430c8}"}`),
	b64(`{"t":"0000-01-01T00:00:00+23:59","i":"6ba7b810-9dad-11d1-80b4-00c04fd430c8"}`),
	b64(`{"t":"9999-12-31T23:59:59.999999999-23:59","i":"6ba7b810-9dad-11d1-80b4-00c04fd430c8"}`),
	b64(`{"t":"yesterday","i":"6ba7b810-9dad-11d1-80b4-00c04fd430c8"}`),
	b64(`{"i":"6ba7b810-9dad-11d1-80b4-00c04fd430c8"}`),
	b64("f1:0:0"), b64("f1:x:1"), b64("f1:1:x"), b64("f1:-1:1"), b64("f1:+1:1"), b64("f1:18446744073709551616:1"),
	b64("f1:18446744073709551615:-9223372036854775808"), b64("f1:1:2:3"), b64("f2:1:1"),
}

// FuzzPageCursor feeds every keyset-paged list the same cursor.
func FuzzPageCursor(f *testing.F) {
	fx := newCursorFixture(f)
	for _, c := range cursorTricks {
		f.Add(c)
	}
	for _, l := range pageListers {
		var next string
		require.NoError(f, fx.in(f, func(ctx context.Context, tx *db.Tx) (err error) {
			next, err = l.list(ctx, tx, "")
			return err
		}))
		require.NotEmpty(f, next, "%s: the fixture has a second page", l.name)
		f.Add(next)
	}
	f.Fuzz(func(t *testing.T, cursor string) { fx.checkPage(t, cursor) })
}

// checkPage runs every keyset-paged list with the cursor.
func (fx cursorFixture) checkPage(t *testing.T, cursor string) {
	t.Helper()
	refused := 0
	for _, l := range pageListers {
		err := fx.in(t, func(ctx context.Context, tx *db.Tx) error {
			_, err := l.list(ctx, tx, cursor)
			return err
		})
		requireRefusedOrRun(t, l.name, cursor, err)
		if err != nil {
			refused++
		}
	}
	// One decoder serves them all: they agree.
	if refused != 0 && refused != len(pageListers) {
		t.Fatalf("cursor %q refused by %d of %d lists", cursor, refused, len(pageListers))
	}
}

// FuzzPageCursorFields mutates the fields inside a well-formed page cursor
// (random bytes rarely survive base64 and JSON decoding to reach the SQL).
func FuzzPageCursorFields(f *testing.F) {
	fx := newCursorFixture(f)
	f.Add("2026-01-02T03:04:05.123456Z", "6ba7b810-9dad-11d1-80b4-00c04fd430c8")
	f.Add("0000-01-01T00:00:00+23:59", "{6BA7B810-9DAD-11D1-80B4-00C04FD430C8}")
	f.Add("9999-12-31T23:59:59.999999999-23:59", "6ba7b8109dad11d180b400c04fd430c8")
	f.Add("2026-01-01T00:00:00Z", "urn:uuid:6ba7b810-9dad-11d1-80b4-00c04fd430c8")
	f.Fuzz(func(t *testing.T, ts, id string) {
		b, err := json.Marshal(map[string]string{"t": ts, "i": id})
		require.NoError(t, err)
		fx.checkPage(t, base64.RawURLEncoding.EncodeToString(b))
	})
}

// FuzzFeedCursor feeds the Signals feed (no time filter) a cursor.
func FuzzFeedCursor(f *testing.F) {
	fx := newCursorFixture(f)
	for _, c := range cursorTricks {
		f.Add(c)
	}
	var next string
	require.NoError(f, fx.in(f, func(ctx context.Context, tx *db.Tx) (err error) {
		_, next, err = tx.ListSignals(ctx, db.SignalFilter{Limit: 1})
		return err
	}))
	f.Add(next)
	f.Add(db.FeedCursor("0", 0))
	f.Fuzz(func(t *testing.T, cursor string) { fx.checkFeed(t, cursor) })
}

// checkFeed reads the Signals feed after the cursor.
func (fx cursorFixture) checkFeed(t *testing.T, cursor string) {
	t.Helper()
	err := fx.in(t, func(ctx context.Context, tx *db.Tx) error {
		_, _, err := tx.ListSignals(ctx, db.SignalFilter{Cursor: cursor, Limit: 1})
		return err
	})
	requireRefusedOrRun(t, "signals feed", cursor, err)
}

// FuzzFeedCursorFields mutates the transaction id and sequence inside a
// well-formed feed cursor.
func FuzzFeedCursorFields(f *testing.F) {
	fx := newCursorFixture(f)
	for _, p := range [][2]string{{"0", "0"}, {"18446744073709551615", "9223372036854775807"}, {"007", "-1"}, {"1 ", "+1"}, {"0x10", "1e3"}} {
		f.Add(p[0], p[1])
	}
	f.Fuzz(func(t *testing.T, txid, seq string) {
		fx.checkFeed(t, b64("f1:"+txid+":"+seq))
	})
}
