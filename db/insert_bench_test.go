package db_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
)

// BenchmarkSignalPageInsert stores a sync page of 1,000 new Signals per
// operation, as SyncPage does (a WithTenantSignals transaction and
// InsertSignals), one page at a time:
//
//	go test ./db -run '^$' -bench SignalPageInsert -benchtime 100x -count 5
//
//	none        the tenant has no tombstones
//	tombstones  the tenant has 100,000 tombstones, none of the page's keys
//	deleted     every key of the page has a tombstone (its Signals are
//	            stored retracted)
//
// The insert looks up each Signal's key in signal_tombstones (a probe of
// its primary key, tenant_id and dedupe_key first), so that a Signal
// deleted before it was stored is stored retracted.
//
// The pages go through a pool of one session, whose server process's CPU
// time (user and system, from /proc on Linux where Postgres runs on this
// host) is reported per page as pg-ms/page: unlike the wall clock, it does
// not depend on what else the machine's cores are doing.
func BenchmarkSignalPageInsert(b *testing.B) {
	ctx := context.Background()
	s := dbtest.NewSchema(b)
	f := fixture{}
	f.tenant, f.conn = dbtest.Seed(b, s.DB, "bench", "slack", "T1")
	one, err := db.Open(ctx, dbtest.URL(b), db.Options{Role: "poblysh_app", Schema: s.Name, MaxConns: 1})
	require.NoError(b, err)
	b.Cleanup(one.Close)
	var backend int
	require.NoError(b, one.Pool.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&backend))
	// cpu is the server process's CPU time so far, or -1 where /proc does
	// not show it.
	cpu := func() time.Duration {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", backend))
		if err != nil {
			return -1
		}
		// After the command's name (in parentheses), utime and stime are
		// the 12th and 13th fields, in clock ticks (100 a second).
		fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		u, err1 := strconv.ParseInt(fields[11], 10, 64)
		st, err2 := strconv.ParseInt(fields[12], 10, 64)
		if err1 != nil || err2 != nil {
			return -1
		}
		return time.Duration(u+st) * 10 * time.Millisecond
	}
	owner, err := pgx.Connect(ctx, s.OwnerURL)
	require.NoError(b, err)
	b.Cleanup(func() { _ = owner.Close(context.Background()) })
	var runs atomic.Int64
	page := func(tag int64, p int) []db.NewSignal {
		sigs := make([]db.NewSignal, 1000)
		for i := range sigs {
			sigs[i] = db.NewSignal{Kind: "message.posted", OccurredAt: time.Now(), DedupeKey: fmt.Sprintf("msg:%d:%d:%d", tag, p, i),
				Payload: fmt.Appendf(nil, `{"url": "https://slack.invalid/archives/C1/p%d", "actor": {"id": "U%d", "name": "user %d"}, `+
					`"title": "A message of some length, as a channel's messages go", "context": {"id": "C1", "name": "general", "type": "channel"}, `+
					`"subject": {"id": "%d", "type": "message"}, "attributes": {"ts": "%d.000100", "channel_id": "C1"}}`, i, i, i, i, i)}
		}
		return sigs
	}
	tombstone := func(keys string, n int) {
		_, err := owner.Exec(ctx, `INSERT INTO signal_tombstones (tenant_id, dedupe_key, connection_id)
			SELECT $1, format($2, g / 1000, g % 1000), $3 FROM generate_series(0, $4 - 1) g
			ON CONFLICT DO NOTHING`, f.tenant, keys, f.conn, n)
		require.NoError(b, err)
		_, err = owner.Exec(ctx, `VACUUM (ANALYZE) signal_tombstones`)
		require.NoError(b, err)
	}
	run := func(b *testing.B, tag int64) {
		pages := make([][]db.NewSignal, b.N)
		for p := range pages {
			pages[p] = page(tag, p)
		}
		before := cpu()
		b.ResetTimer()
		for p := range b.N {
			var st db.Stored
			err := one.WithTenantSignals(ctx, f.tenant, func(tx *db.Tx) (err error) {
				st, err = tx.InsertSignals(ctx, f.conn, "slack", pages[p])
				return err
			})
			if err == nil && len(st.Kinds) != 1000 {
				err = fmt.Errorf("%d stored", len(st.Kinds))
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		if after := cpu(); before >= 0 && after >= 0 {
			b.ReportMetric(float64((after-before).Milliseconds())/float64(b.N), "pg-ms/page")
		}
		var retracted int
		require.NoError(b, owner.QueryRow(ctx, `SELECT count(*) FROM signals WHERE dedupe_key LIKE $1
			AND payload->'attributes'->>'retracted' = 'true'`, fmt.Sprintf("slack:msg:%d:%%", tag)).Scan(&retracted))
		b.ReportMetric(float64(retracted)/float64(b.N), "retracted/page")
	}
	b.Run("none", func(b *testing.B) { run(b, runs.Add(1)) })
	b.Run("tombstones", func(b *testing.B) {
		tombstone("slack:gone:%s:%s", 100_000)
		run(b, runs.Add(1))
	})
	b.Run("deleted", func(b *testing.B) {
		tag := runs.Add(1)
		tombstone(fmt.Sprintf("slack:msg:%d:%%s:%%s", tag), b.N*1000)
		run(b, tag)
	})
}
