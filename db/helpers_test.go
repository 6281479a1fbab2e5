package db_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/db"
)

type fixture struct {
	tenant string
	conn   string
}

func newFixture(t *testing.T, d *db.DB, provider, account string) fixture {
	t.Helper()
	ctx := context.Background()
	var f fixture
	require.NoError(t, d.WithSystem(ctx, func(tx *db.Tx) error {
		tn, _, _, err := tx.CreateTenant(ctx, "tenant "+account)
		f.tenant = tn.ID
		return err
	}))
	require.NoError(t, d.WithTenant(ctx, f.tenant, func(tx *db.Tx) error {
		c, _, err := tx.UpsertConnection(ctx, db.ConnectionUpsert{Provider: provider, ExternalAccountID: account, DisplayName: account})
		if err == nil {
			f.conn = c.ID
		}
		return err
	}))
	return f
}
