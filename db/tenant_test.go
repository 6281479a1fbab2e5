package db_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
)

func TestTenantsAndKeys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)

	var tA, tB *db.Tenant
	var keyA, keyB string
	require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) error {
		var err error
		tA, _, keyA, err = tx.CreateTenant(ctx, "Acme")
		if err != nil {
			return err
		}
		tB, _, keyB, err = tx.CreateTenant(ctx, "Globex")
		return err
	}))
	require.Regexp(t, `^pbk_[A-Za-z0-9_-]{8}_[A-Za-z0-9_-]+$`, keyA)

	// Keys authenticate to their own tenant.
	var got string
	require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) (err error) {
		got, _, err = tx.AuthenticateAPIKey(ctx, keyB)
		return err
	}))
	require.Equal(t, tB.ID, got)
	err := s.DB.WithSystem(ctx, func(tx *db.Tx) error {
		_, _, err := tx.AuthenticateAPIKey(ctx, keyA+"x")
		return err
	})
	require.Equal(t, poblysh.EUNAUTHORIZED, poblysh.ErrorCode(err))

	// Tenant B cannot see or revoke tenant A's key: 404, not 403.
	var keysA []db.APIKey
	require.NoError(t, s.DB.WithTenant(ctx, tA.ID, func(tx *db.Tx) (err error) {
		keysA, _, err = tx.ListAPIKeys(ctx, db.Page{Limit: 10})
		return err
	}))
	require.Len(t, keysA, 1)
	err = s.DB.WithTenant(ctx, tB.ID, func(tx *db.Tx) error { return tx.RevokeAPIKey(ctx, keysA[0].ID) })
	require.Equal(t, poblysh.ENOTFOUND, poblysh.ErrorCode(err))

	// Revoked keys stop authenticating.
	require.NoError(t, s.DB.WithTenant(ctx, tA.ID, func(tx *db.Tx) error { return tx.RevokeAPIKey(ctx, keysA[0].ID) }))
	err = s.DB.WithSystem(ctx, func(tx *db.Tx) error {
		_, _, err := tx.AuthenticateAPIKey(ctx, keyA)
		return err
	})
	require.Equal(t, poblysh.EUNAUTHORIZED, poblysh.ErrorCode(err))
}

// TestRowLevelSecurity proves the second wall: a query that forgets its
// tenant filter still sees only the transaction's tenant, and nothing at all
// outside a tenant or system transaction.
func TestRowLevelSecurity(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	var tA, tB *db.Tenant
	require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) (err error) {
		if tA, _, _, err = tx.CreateTenant(ctx, "A"); err != nil {
			return err
		}
		tB, _, _, err = tx.CreateTenant(ctx, "B")
		return err
	}))

	countKeys := func(tx *db.Tx) (n int) {
		require.NoError(t, tx.GetContext(ctx, &n, `SELECT count(*) FROM api_keys`)) // no tenant filter on purpose
		return n
	}
	require.NoError(t, s.DB.WithTenant(ctx, tA.ID, func(tx *db.Tx) error {
		require.Equal(t, 1, countKeys(tx), "tenant A sees only its own key")
		var tenants int
		require.NoError(t, tx.GetContext(ctx, &tenants, `SELECT count(*) FROM tenants`))
		require.Equal(t, 1, tenants)
		return nil
	}))
	// Writing a row for another tenant is refused by WITH CHECK.
	err := s.DB.WithTenant(ctx, tA.ID, func(tx *db.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO api_keys (tenant_id, prefix, key_hash) VALUES ($1, 'x', 'x')`, tB.ID)
		return err
	})
	require.ErrorContains(t, err, "row-level security")
	require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) error {
		require.Equal(t, 2, countKeys(tx))
		return nil
	}))
	// Outside a scoped transaction: nothing.
	var n int
	require.NoError(t, s.DB.X.GetContext(ctx, &n, `SELECT count(*) FROM api_keys`))
	require.Zero(t, n)
	// The application role cannot switch RLS off.
	_, err = s.DB.X.ExecContext(ctx, `ALTER TABLE api_keys DISABLE ROW LEVEL SECURITY`)
	require.Error(t, err)
}
