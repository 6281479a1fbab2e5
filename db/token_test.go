package db_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
	"github.com/poblysh/poblysh/vault"
)

// A replaced token is revoked only when no live connection of the
// account, of any tenant, the one re-authorized included, stores it; one
// this key ring cannot read is never ruled out.
func TestTokenStored(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	kr := dbtest.KeyRing(t)
	mine := newFixture(t, s.DB, "zoho-cliq", "ada")
	other := newFixture(t, s.DB, "zoho-cliq", "ada")
	bob := newFixture(t, s.DB, "zoho-cliq", "bob")
	save := func(f fixture, kr *vault.KeyRing, tok db.Tokens) {
		require.NoError(t, s.DB.WithTenant(ctx, f.tenant, func(tx *db.Tx) error { return tx.SaveTokens(ctx, kr, f.conn, tok) }))
	}
	held := func(kr *vault.KeyRing, tokens ...string) bool {
		var ok bool
		require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) (err error) {
			ok, err = tx.TokenStored(ctx, kr, "zoho-cliq", "ada", tokens...)
			return err
		}))
		return ok
	}
	save(mine, kr, db.Tokens{AccessToken: "access-mine", RefreshToken: "refresh-mine"})
	save(other, kr, db.Tokens{AccessToken: "access-other", RefreshToken: "refresh-other", PrevRefreshToken: "refresh-spent"})
	save(bob, kr, db.Tokens{AccessToken: "access-bob", RefreshToken: "refresh-old"})

	require.True(t, held(kr, "access-x", "refresh-mine"), "the connection itself stores its refresh token")
	require.True(t, held(kr, "access-mine"), "... or its access token")
	require.False(t, held(kr, "access-gone", "refresh-gone"), "nobody stores these")
	require.False(t, held(kr, "access-bob", "refresh-old"), "another account's connections are not asked")
	require.False(t, held(kr, "", ""), "no token is held by anyone")
	require.True(t, held(kr, "access-x", "refresh-other"), "another tenant's connection of the account stores the refresh token")
	require.True(t, held(kr, "access-other"), "... or the access token")
	require.True(t, held(kr, "refresh-spent"), "... or the previous refresh token")
	require.True(t, held(dbtest.KeyRing(t), "refresh-gone"), "tokens another key sealed cannot be ruled out")

	require.NoError(t, s.DB.WithTenant(ctx, other.tenant, func(tx *db.Tx) error { return tx.DeleteConnection(ctx, other.conn, false) }))
	require.False(t, held(kr, "access-other", "refresh-other"), "a deleted connection holds nothing")
}
