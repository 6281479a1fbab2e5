package db_test

import (
	"context"
	"errors"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
)

// storeAheadOfCounter stores a Signal of f whose transaction id is epochs
// epochs past the cluster's counter: what a logical copy (pg_dump,
// pg_restore) into a new cluster leaves, whose counter starts far below
// the ids the rows carry.
func storeAheadOfCounter(t *testing.T, s *dbtest.Schema, f fixture, epochs int) {
	t.Helper()
	ctx := context.Background()
	owner, err := pgx.Connect(ctx, s.OwnerURL)
	require.NoError(t, err)
	defer owner.Close(ctx)
	_, err = owner.Exec(ctx, `SELECT set_config('poblysh.system', 'on', false)`)
	require.NoError(t, err)
	_, err = owner.Exec(ctx, `INSERT INTO signals (tenant_id, connection_id, source, kind, occurred_at, dedupe_key, payload, txid)
		VALUES ($1, $2, 'github', 'code.pushed', now(), 'github:restored', '{}',
			(pg_current_xact_id()::text::numeric + $3::numeric * 4294967296)::text::xid8)`, f.tenant, f.conn, epochs)
	require.NoError(t, err)
}

// A database whose Signals carry transaction ids at or past the cluster's
// counter (restored by a logical copy) is refused, by the service's start
// check and by migrate, naming the pg_resetwal epoch that fixes it; one
// whose ids are behind the counter passes. The check runs as the
// application role: it sees every tenant's Signals, not none.
func TestTxCounterBehindSignalsIsRefused(t *testing.T) {
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	a := newFixture(t, s.DB, "github", "a")
	b := newFixture(t, s.DB, "github", "b")
	require.NoError(t, s.DB.CheckTxCounter(ctx), "an empty database")
	require.NoError(t, s.DB.WithTenantSignals(ctx, a.tenant, func(tx *db.Tx) error {
		_, err := tx.InsertSignals(ctx, a.conn, "github", []db.NewSignal{sig("a1", "code.pushed")})
		return err
	}))
	require.NoError(t, s.DB.CheckTxCounter(ctx), "Signals stored by this cluster")

	var epoch uint64
	require.NoError(t, s.DB.Pool.QueryRow(ctx, `SELECT (pg_current_xact_id()::text::numeric / 4294967296)::bigint`).Scan(&epoch))
	storeAheadOfCounter(t, s, b, 3)
	err := s.DB.CheckTxCounter(ctx)
	require.Error(t, err, "a Signal of tenant b stored past the counter")
	var behind *db.TxCounterBehindError
	require.True(t, errors.As(err, &behind), "%v", err)
	require.Equal(t, epoch+4, behind.Epoch())
	require.Contains(t, err.Error(), "pg_resetwal -e "+fmtUint(epoch+4))
	require.Contains(t, err.Error(), "docs/reliability.md")

	_, err = db.Migrate(ctx, dbtest.URL(t), s.Name)
	require.ErrorAs(t, err, &behind, "migrate refuses too")
}

func fmtUint(n uint64) string { return strconv.FormatUint(n, 10) }
