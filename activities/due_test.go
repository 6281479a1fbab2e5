package activities

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
)

type stubConnector struct{ spec *connectors.Spec }

func (s stubConnector) Spec() *connectors.Spec { return s.spec }

// The refresh sweep leaves providers that refresh on demand alone (Zoho:
// an idle connection spends none of its 10 access tokens per 10 minutes),
// and refreshes the others' tokens before they expire.
func TestListDueTokensSkipsOnDemandProviders(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	schema := dbtest.NewSchema(t)
	kr := dbtest.KeyRing(t)
	provider := func(name string, pol connectors.TokenPolicy) *connectors.Provider {
		s := &connectors.Spec{Name: name, Policy: connectors.Policy{Token: pol}}
		return &connectors.Provider{Spec: s, Connector: stubConnector{s}}
	}
	reg := connectors.NewRegistry(
		provider("sweep", connectors.TokenPolicy{Expires: true, RefreshBefore: 5 * time.Minute}),
		provider("ondemand", connectors.TokenPolicy{Expires: true, OnDemand: true, RefreshBefore: time.Minute}),
	)
	acts := &Activities{DB: schema.DB, Registry: reg, KeyRing: kr}
	var tenant string
	require.NoError(t, schema.DB.WithSystem(ctx, func(tx *db.Tx) error {
		tn, _, _, err := tx.CreateTenant(ctx, "due")
		tenant = tn.ID
		return err
	}))
	exp := time.Now().Add(20 * time.Minute)
	require.NoError(t, schema.DB.WithTenant(ctx, tenant, func(tx *db.Tx) error {
		for _, p := range []string{"sweep", "ondemand"} {
			c, _, err := tx.UpsertConnection(ctx, db.ConnectionUpsert{Provider: p, ExternalAccountID: "acct-" + p})
			if err != nil {
				return err
			}
			if err := tx.SaveTokens(ctx, kr, c.ID, db.Tokens{AccessToken: "a", RefreshToken: "r", TokenType: "Bearer", Expiry: &exp}); err != nil {
				return err
			}
		}
		return nil
	}))
	res, err := acts.ListDueTokens(ctx, ListDueInput{Limit: 10})
	require.NoError(t, err)
	require.Len(t, res.Connections, 1)
	require.Equal(t, "sweep", res.Connections[0].Provider)
}

// An on-demand provider's token is listed only for the keep-alive of an
// idle refresh token, never because its access token has lapsed: with
// pushes on, a Jira connection polls every 6 h, so its 1-hour access token
// is expired most of the time, and a forced sweep refresh of it spent
// (rotated) the refresh token every hour.
func TestListDueTokensKeepsOnDemandRefreshTokensAliveOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	schema := dbtest.NewSchema(t)
	kr := dbtest.KeyRing(t)
	s := &connectors.Spec{Name: "jiralike", Policy: connectors.Policy{Token: connectors.TokenPolicy{
		Expires: true, OnDemand: true, RotatesRefreshToken: true, RefreshBefore: 10 * time.Minute, KeepAliveAfter: 30 * 24 * time.Hour}}}
	reg := connectors.NewRegistry(&connectors.Provider{Spec: s, Connector: stubConnector{s}})
	acts := &Activities{DB: schema.DB, Registry: reg, KeyRing: kr}
	var tenant string
	require.NoError(t, schema.DB.WithSystem(ctx, func(tx *db.Tx) error {
		tn, _, _, err := tx.CreateTenant(ctx, "due")
		tenant = tn.ID
		return err
	}))
	lapsed := time.Now().Add(-5 * time.Minute)
	ids := map[string]string{}
	require.NoError(t, schema.DB.WithTenant(ctx, tenant, func(tx *db.Tx) error {
		for _, acct := range []string{"used-minutes-ago", "idle-31-days"} {
			c, _, err := tx.UpsertConnection(ctx, db.ConnectionUpsert{Provider: "jiralike", ExternalAccountID: acct})
			if err != nil {
				return err
			}
			ids[acct] = c.ID
			if err := tx.SaveTokens(ctx, kr, c.ID, db.Tokens{AccessToken: "a", RefreshToken: "r", TokenType: "Bearer", Expiry: &lapsed}); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `UPDATE connections SET token_refreshed_at = now() - interval '31 days' WHERE id = $1`, ids["idle-31-days"])
		return err
	}))
	res, err := acts.ListDueTokens(ctx, ListDueInput{Limit: 10})
	require.NoError(t, err)
	require.Len(t, res.Connections, 1, "only the idle refresh token is due")
	require.Equal(t, ids["idle-31-days"], res.Connections[0].ConnectionID)
}
