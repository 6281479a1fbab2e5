package activities

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/connectors/github"
	"github.com/poblysh/poblysh/connectors/google"
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

// pause pauses a connection as PATCH paused=true does: the flag, and
// health disabled.
func pause(t *testing.T, tx *db.Tx, connID string) {
	t.Helper()
	paused := true
	_, err := tx.UpdateConnection(context.Background(), connID, db.ConnectionPatch{Paused: &paused})
	require.NoError(t, err)
	_, _, err = tx.ApplyHealth(context.Background(), connID, poblysh.HealthEvent{Kind: poblysh.EventPaused})
	require.NoError(t, err)
}

// A paused connection's refresh token is kept alive as an active one's is:
// Google drops a refresh token unused for six months, Jira after 90 days,
// and pausing stops syncing, not the authorization. Only the keep-alive
// applies to it (a provider that refreshes ahead does not refresh a paused
// connection's access token), and not once its refresh token was refused:
// the pause keeps its health disabled, and the dead token was tried again
// every hour.
func TestListDueTokensKeepsPausedRefreshTokensAlive(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	schema := dbtest.NewSchema(t)
	kr := dbtest.KeyRing(t)
	provider := func(name string, pol connectors.TokenPolicy) *connectors.Provider {
		s := &connectors.Spec{Name: name, Policy: connectors.Policy{Token: pol}}
		return &connectors.Provider{Spec: s, Connector: stubConnector{s}}
	}
	reg := connectors.NewRegistry(
		provider("google-drive", google.TokenPolicy),
		provider("github", github.Spec.Policy.Token),
		provider("ahead", connectors.TokenPolicy{Expires: true, RefreshBefore: 5 * time.Minute}),
	)
	acts := &Activities{DB: schema.DB, Registry: reg, KeyRing: kr}
	var tenant string
	require.NoError(t, schema.DB.WithSystem(ctx, func(tx *db.Tx) error {
		tn, _, _, err := tx.CreateTenant(ctx, "paused")
		tenant = tn.ID
		return err
	}))
	ids := map[string]string{}
	add := func(tx *db.Tx, provider, name string, expiry time.Time, idle time.Duration) string {
		c, _, err := tx.UpsertConnection(ctx, db.ConnectionUpsert{Provider: provider, ExternalAccountID: name})
		require.NoError(t, err)
		require.NoError(t, tx.SaveTokens(ctx, kr, c.ID, db.Tokens{AccessToken: "a", RefreshToken: "r", TokenType: "Bearer", Expiry: &expiry}))
		_, err = tx.ExecContext(ctx, `UPDATE connections SET token_refreshed_at = now() - make_interval(secs => $2) WHERE id = $1`, c.ID, idle.Seconds())
		require.NoError(t, err)
		ids[name] = c.ID
		return c.ID
	}
	day := 24 * time.Hour
	lapsed, soon := time.Now().Add(-150*day), time.Now().Add(20*time.Minute)
	require.NoError(t, schema.DB.WithTenant(ctx, tenant, func(tx *db.Tx) error {
		add(tx, "google-drive", "active-idle-150d", lapsed, 150*day)
		pause(t, tx, add(tx, "google-drive", "paused-idle-150d", lapsed, 150*day))
		pause(t, tx, add(tx, "google-drive", "paused-idle-1d", lapsed, day))
		refused := add(tx, "google-drive", "paused-idle-150d-refused", lapsed, 150*day)
		pause(t, tx, refused)
		require.NoError(t, tx.MarkRefreshRefused(ctx, refused))
		require.NoError(t, tx.SetHealth(ctx, add(tx, "google-drive", "needs-reauth-idle-150d", lapsed, 150*day), poblysh.HealthNeedsReauth, "revoked"))
		add(tx, "ahead", "active-expiring", soon, time.Minute)
		pause(t, tx, add(tx, "ahead", "paused-expiring", soon, time.Minute))
		// A GitHub App refresh token expires six months after it is
		// issued: a paused connection's is renewed too.
		pause(t, tx, add(tx, "github", "github-paused-idle-150d", lapsed, 150*day))
		pause(t, tx, add(tx, "github", "github-paused-idle-1d", soon, day))
		return nil
	}))
	var paused *db.Connection
	require.NoError(t, schema.DB.WithTenant(ctx, tenant, func(tx *db.Tx) (err error) {
		paused, err = tx.FindConnection(ctx, ids["paused-idle-150d"])
		return err
	}))
	require.True(t, paused.Paused)
	require.Equal(t, poblysh.HealthDisabled, paused.Health, "a pause makes health disabled")

	res, err := acts.ListDueTokens(ctx, ListDueInput{Limit: 10})
	require.NoError(t, err)
	var due []string
	for _, c := range res.Connections {
		for name, id := range ids {
			if id == c.ConnectionID {
				due = append(due, name)
			}
		}
	}
	require.ElementsMatch(t, []string{"active-idle-150d", "paused-idle-150d", "active-expiring", "github-paused-idle-150d"}, due)
}
