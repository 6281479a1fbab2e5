package activities

import (
	"context"
	"fmt"
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

// A refresh that fails without refusing the grant (here the provider
// refuses the OAuth client: the grant is kept) leaves the connection due.
// The sweep's next page still reaches the connections behind it: an idle
// Google Drive connection's refresh token, which Google drops after six
// months unused, was never kept alive while a full page of GitHub
// connections failed first, round after round and hour after hour.
func TestListDueTokensReachesConnectionsBehindFailingRefreshes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	schema := dbtest.NewSchema(t)
	kr := dbtest.KeyRing(t)
	provider := func(name string, pol connectors.TokenPolicy) *connectors.Provider {
		s := &connectors.Spec{Name: name, Policy: connectors.Policy{Token: pol}}
		return &connectors.Provider{Spec: s, Connector: stubConnector{s}}
	}
	reg := connectors.NewRegistry(provider("google-drive", google.TokenPolicy), provider("github", github.Spec.Policy.Token))
	acts := &Activities{DB: schema.DB, Registry: reg, KeyRing: kr}
	var tenant string
	require.NoError(t, schema.DB.WithSystem(ctx, func(tx *db.Tx) error {
		tn, _, _, err := tx.CreateTenant(ctx, "behind")
		tenant = tn.ID
		return err
	}))
	const page = 3
	day := 24 * time.Hour
	add := func(provider, name string, expiry time.Time) string {
		var id string
		require.NoError(t, schema.DB.WithTenant(ctx, tenant, func(tx *db.Tx) error {
			c, _, err := tx.UpsertConnection(ctx, db.ConnectionUpsert{Provider: provider, ExternalAccountID: name})
			require.NoError(t, err)
			require.NoError(t, tx.SaveTokens(ctx, kr, c.ID, db.Tokens{AccessToken: "a", RefreshToken: "r", TokenType: "Bearer", Expiry: &expiry}))
			_, err = tx.ExecContext(ctx, `UPDATE connections SET token_refreshed_at = now() - interval '40 days' WHERE id = $1`, c.ID)
			id = c.ID
			return err
		}))
		return id
	}
	for i := range page {
		add("github", fmt.Sprintf("gh-%d", i), time.Now().Add(-41*day))
	}
	drive := add("google-drive", "drive-idle-40d", time.Now().Add(-40*day))
	listed := func() bool {
		res, err := acts.ListDueTokens(ctx, ListDueInput{Limit: page})
		require.NoError(t, err)
		require.Len(t, res.Connections, page)
		for _, c := range res.Connections {
			if c.ConnectionID == drive {
				return true
			}
			// The stub has no OAuth client: its refresh is refused the
			// client, and the connection stays due.
			_, err := acts.RefreshToken(ctx, RefreshTokenInput{ConnectionRef: c, Force: true})
			require.Error(t, err)
		}
		return false
	}
	require.False(t, listed(), "the GitHub tokens expired first: their page comes first")
	require.True(t, listed(), "the idle Drive connection behind failing refreshes is listed next, so its refresh token is kept alive")
}

// A sweep's rounds each list connections the rounds before them did not
// (the refreshes a round starts may not have run when the next one lists),
// and the next sweep starts with those listed longest ago.
func TestListDueTokensRoundsListEachConnectionOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	schema := dbtest.NewSchema(t)
	kr := dbtest.KeyRing(t)
	s := &connectors.Spec{Name: "ahead", Policy: connectors.Policy{Token: connectors.TokenPolicy{Expires: true, RefreshBefore: 5 * time.Minute}}}
	acts := &Activities{DB: schema.DB, Registry: connectors.NewRegistry(&connectors.Provider{Spec: s, Connector: stubConnector{s}}), KeyRing: kr}
	var tenant string
	require.NoError(t, schema.DB.WithSystem(ctx, func(tx *db.Tx) error {
		tn, _, _, err := tx.CreateTenant(ctx, "rounds")
		tenant = tn.ID
		return err
	}))
	require.NoError(t, schema.DB.WithTenant(ctx, tenant, func(tx *db.Tx) error {
		for i := range 5 {
			c, _, err := tx.UpsertConnection(ctx, db.ConnectionUpsert{Provider: "ahead", ExternalAccountID: fmt.Sprintf("acct-%d", i)})
			require.NoError(t, err)
			exp := time.Now().Add(time.Duration(i) * time.Minute)
			require.NoError(t, tx.SaveTokens(ctx, kr, c.ID, db.Tokens{AccessToken: "a", RefreshToken: "r", TokenType: "Bearer", Expiry: &exp}))
		}
		return nil
	}))
	ids := func(res ListDueResult) []string {
		var out []string
		for _, c := range res.Connections {
			out = append(out, c.ConnectionID)
		}
		return out
	}
	first, err := acts.ListDueTokens(ctx, ListDueInput{Limit: 2})
	require.NoError(t, err)
	require.Len(t, first.Connections, 2)
	require.NotNil(t, first.ListedAt)
	seen := ids(first)
	for _, want := range []int{2, 1, 0} {
		res, err := acts.ListDueTokens(ctx, ListDueInput{Limit: 2, Since: first.ListedAt})
		require.NoError(t, err)
		require.Len(t, res.Connections, want)
		for _, id := range ids(res) {
			require.NotContains(t, seen, id, "listed once per sweep")
			seen = append(seen, id)
		}
	}
	next, err := acts.ListDueTokens(ctx, ListDueInput{Limit: 2})
	require.NoError(t, err)
	require.Equal(t, seen[:2], ids(next), "the next sweep starts with those listed longest ago")
}
