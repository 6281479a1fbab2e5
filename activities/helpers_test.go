package activities

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
	"github.com/poblysh/poblysh/vault"
)

// seedWithToken seeds a tenant with one connection of provider holding a
// non-expiring access token sealed under kr, and returns their ids.
func seedWithToken(t *testing.T, schema *dbtest.Schema, kr *vault.KeyRing, name, provider string) (tenantID, connID string) {
	t.Helper()
	tenantID, connID = dbtest.Seed(t, schema.DB, name, provider, "acct")
	saveAccess(t, schema, kr, tenantID, connID, "a")
	return tenantID, connID
}

// saveAccess stores a non-expiring access token (no refresh token) for the
// connection, as a new grant of a provider without refresh tokens would.
func saveAccess(t *testing.T, schema *dbtest.Schema, kr *vault.KeyRing, tenantID, connID, access string) {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, schema.DB.WithTenant(ctx, tenantID, func(tx *db.Tx) error {
		return tx.SaveTokens(ctx, kr, connID, db.Tokens{AccessToken: access, TokenType: "Bearer"})
	}))
}

// healthOf reads a connection's health.
func healthOf(t *testing.T, schema *dbtest.Schema, tenantID, connID string) string {
	t.Helper()
	var c *db.Connection
	require.NoError(t, schema.DB.WithTenant(context.Background(), tenantID, func(tx *db.Tx) (err error) {
		c, err = tx.FindConnection(context.Background(), connID)
		return err
	}))
	return string(c.Health)
}
