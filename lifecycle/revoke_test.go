package lifecycle_test

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/poblysh/poblysh/connectors"
	_ "github.com/poblysh/poblysh/connectors/fake" // the engine's test provider
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
	"github.com/poblysh/poblysh/lifecycle"
	"github.com/poblysh/poblysh/sandbox"
	fakesandbox "github.com/poblysh/poblysh/sandbox/fake"
)

// A reconnect revokes the token it replaced only when no connection,
// itself included, stores it once the reconnect has committed: a refresh
// that stored its answer over the reconnect's tokens (a provider that does
// not rotate answers with the old refresh token) left the connection
// holding the replaced token, and revoking it would leave the connection
// nothing that refreshes.
func TestRevokeReplacedKeepsATokenTheConnectionStores(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	schema := dbtest.NewSchema(t)
	sb := fakesandbox.New(fakesandbox.Options{})
	srv := httptest.NewServer(sb)
	t.Cleanup(srv.Close)
	env := sb.Env(srv.URL)
	reg, err := connectors.Build(connectors.Registered(), func(k string) string { return env[k] }, "http://127.0.0.1:1", false)
	require.NoError(t, err)
	p, ok := reg.Get("fake")
	require.True(t, ok)
	s := &lifecycle.Service{DB: schema.DB, Registry: reg, KeyRing: dbtest.KeyRing(t)}

	authorize := func() *sandbox.TokenSet {
		ts, err := sb.Authorize(srv.URL, "http://127.0.0.1/cb")
		require.NoError(t, err)
		return ts
	}
	old := authorize()
	var conn *db.Connection
	require.NoError(t, schema.DB.WithSystem(ctx, func(tx *db.Tx) error {
		tn, _, _, err := tx.CreateTenant(ctx, "revoke")
		if err != nil {
			return err
		}
		conn = &db.Connection{TenantID: tn.ID}
		return nil
	}))
	require.NoError(t, schema.DB.WithTenant(ctx, conn.TenantID, func(tx *db.Tx) (err error) {
		if conn, _, err = tx.UpsertConnection(ctx, db.ConnectionUpsert{Provider: "fake", ExternalAccountID: fakesandbox.DefaultAccountID}); err != nil {
			return err
		}
		// What the race left: a refresh's new access token beside the
		// refresh token the reconnect replaced.
		return tx.SaveTokens(ctx, s.KeyRing, conn.ID, db.Tokens{AccessToken: "access-from-refresh", RefreshToken: old.RefreshToken, TokenType: "Bearer"})
	}))
	acct := connectors.Account{ID: fakesandbox.DefaultAccountID}

	outcome, err := s.RevokeReplacedLocked(ctx, p, conn, acct, &oauth2.Token{AccessToken: old.AccessToken, RefreshToken: old.RefreshToken})
	require.NoError(t, err)
	require.Contains(t, outcome, "kept the token a re-authorization replaced")
	_, err = sb.OAuth.Check(old.AccessToken)
	require.NoError(t, err, "nothing was revoked (the fake sandbox revokes the whole grant)")

	// A replaced token nobody stores any more is revoked.
	require.NoError(t, schema.DB.WithTenant(ctx, conn.TenantID, func(tx *db.Tx) error {
		return tx.SaveTokens(ctx, s.KeyRing, conn.ID, db.Tokens{AccessToken: "access-from-reconnect", RefreshToken: "refresh-from-reconnect", TokenType: "Bearer"})
	}))
	outcome, err = s.RevokeReplacedLocked(ctx, p, conn, acct, &oauth2.Token{AccessToken: old.AccessToken, RefreshToken: old.RefreshToken})
	require.NoError(t, err)
	require.Equal(t, "revoked the token a re-authorization replaced", outcome)
	_, err = sb.OAuth.Check(old.AccessToken)
	require.Error(t, err, "revoked at the provider")
}
