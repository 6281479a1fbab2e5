package activities

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"golang.org/x/oauth2"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
	"github.com/poblysh/poblysh/vault"
)

// hookConnector watches one target with channels that expire in an hour;
// when it stops a channel it records whether the newest channel's route
// already existed (routesAtStop), and when it confirms one, whether that
// channel was stored and routed by then (storedAtConfirm).
type hookConnector struct {
	spec            *connectors.Spec
	schema          *dbtest.Schema
	created         int
	routesAtStop    []int
	stopped         []string
	confirmed       []string
	storedAtConfirm []int
}

func (c *hookConnector) Spec() *connectors.Spec { return c.spec }

func (c *hookConnector) WatchTargets(connectors.Connection) ([]string, error) {
	return []string{"board"}, nil
}

func (c *hookConnector) Watch(_ context.Context, req connectors.WatchRequest) ([]connectors.Channel, error) {
	c.created++
	return []connectors.Channel{{ID: fmt.Sprintf("hook-%d", c.created), Target: "board",
		RouteKey: fmt.Sprintf("rk-%d", c.created), Secret: fmt.Sprintf("secret-%d", c.created), Expires: req.Now.Add(time.Hour)}}, nil
}

func (c *hookConnector) StopWatch(ctx context.Context, req connectors.StopWatchRequest) error {
	var n int
	if err := c.schema.DB.WithSystem(ctx, func(tx *db.Tx) error {
		return tx.GetContext(ctx, &n, `SELECT count(*) FROM webhook_routes WHERE route_key = $1`, fmt.Sprintf("rk-%d", c.created))
	}); err != nil {
		return err
	}
	c.routesAtStop = append(c.routesAtStop, n)
	c.stopped = append(c.stopped, req.Channel.ID)
	return nil
}

func (c *hookConnector) ConfirmWatch(ctx context.Context, req connectors.ConfirmWatchRequest) error {
	var n int
	if err := c.schema.DB.WithSystem(ctx, func(tx *db.Tx) error {
		return tx.GetContext(ctx, &n, `SELECT count(*) FROM watch_channels w JOIN webhook_routes r ON r.route_key = $2
			WHERE w.channel_id = $1 AND w.secret_ct IS NOT NULL`, req.Channel.ID, req.Channel.RouteKey)
	}); err != nil {
		return err
	}
	c.confirmed = append(c.confirmed, req.Channel.ID)
	c.storedAtConfirm = append(c.storedAtConfirm, n)
	return nil
}

// A channel that replaces an expiring one is routed in the transaction
// that stores it, before the old one is stopped: a delivery on the new
// channel is never unroutable. (The routes used to be rebuilt only after
// the old channels were stopped; a Jira delivery in between was
// acknowledged as unroutable and lost.)
func TestNewChannelsAreRoutedWhenStored(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	schema := dbtest.NewSchema(t)
	kr := dbtest.KeyRing(t)
	spec := &connectors.Spec{Name: "hooked"}
	conn := &hookConnector{spec: spec, schema: schema}
	acts := watchActivities(schema, kr, spec, conn)
	tenant, connID := seedWithToken(t, schema, kr, "hooks", "hooked")
	expired := time.Now().Add(-time.Minute)
	require.NoError(t, schema.DB.WithTenant(ctx, tenant, func(tx *db.Tx) error {
		return tx.InsertWatchChannel(ctx, kr, db.WatchChannel{ConnectionID: connID, Provider: "hooked", ChannelID: "hook-0",
			Target: "board", RouteKey: "rk-0", ExpiresAt: &expired})
	}))
	routes := func() []string {
		var keys []string
		require.NoError(t, schema.DB.WithSystem(ctx, func(tx *db.Tx) error {
			return tx.SelectContext(ctx, &keys, `SELECT route_key FROM webhook_routes WHERE connection_id = $1 ORDER BY route_key`, connID)
		}))
		return keys
	}

	res, err := acts.ReconcileWatches(ctx, ReconcileWatchesInput{ConnectionRef: poblysh.ConnectionRef{
		TenantID: tenant, ConnectionID: connID, Provider: "hooked"}})
	require.NoError(t, err)
	require.Equal(t, 1, res.Created)
	require.Equal(t, 1, res.Stopped)
	require.Equal(t, []string{"hook-0"}, conn.stopped, "the expiring channel is replaced")
	require.Equal(t, []int{1}, conn.routesAtStop, "the new channel was routed before the old one stopped")
	require.Equal(t, []string{"rk-1"}, routes(), "only the live channel is routed afterwards")
	// The provider is asked to greet the new channel again only once the
	// channel is stored with its secret and routed (GitHub's first ping).
	require.Equal(t, []string{"hook-1"}, conn.confirmed)
	require.Equal(t, []int{1}, conn.storedAtConfirm)
}

// staleTokenConnector watches through an API that refuses the access token
// "stale" (401) and accepts any other; a refresh mints "fresh".
type staleTokenConnector struct {
	*hookConnector
	api       *httptest.Server
	refreshes int
}

func (c *staleTokenConnector) Watch(ctx context.Context, req connectors.WatchRequest) ([]connectors.Channel, error) {
	r, err := http.NewRequestWithContext(ctx, http.MethodGet, c.api.URL, nil)
	if err != nil {
		return nil, err
	}
	resp, err := req.HTTP.Do(r)
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized {
		return nil, fmt.Errorf("%w: the API refused the token", connectors.ErrUnauthorized)
	}
	return c.hookConnector.Watch(ctx, req)
}

func (c *staleTokenConnector) Refresh(_ context.Context, _ connectors.Account, refreshToken string) (*oauth2.Token, error) {
	c.refreshes++
	return &oauth2.Token{AccessToken: "fresh", RefreshToken: refreshToken, TokenType: "Bearer", Expiry: time.Now().Add(time.Hour)}, nil
}

// A watch call refused with the token the pass began with (it expired or
// was rotated early, while the record says it is good for another hour)
// refreshes the token once and runs the pass again, as a sync page does.
// (The pass used to mark the connection needs_reauth at once: a GitHub
// token expired mid-backfill did that in the end-to-end run.)
func TestWatchPassRefreshesARefusedToken(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	schema := dbtest.NewSchema(t)
	kr := dbtest.KeyRing(t)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "Bearer stale" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	t.Cleanup(api.Close)
	spec := &connectors.Spec{Name: "stale", Policy: connectors.Policy{Token: connectors.TokenPolicy{Expires: true, OnDemand: true}}}
	conn := &staleTokenConnector{hookConnector: &hookConnector{spec: spec, schema: schema}, api: api}
	acts := watchActivities(schema, kr, spec, conn)
	tenant, connID := dbtest.Seed(t, schema.DB, "stale", "stale", "acct")
	expiry := time.Now().Add(time.Hour)
	require.NoError(t, schema.DB.WithTenant(ctx, tenant, func(tx *db.Tx) error {
		return tx.SaveTokens(ctx, kr, connID, db.Tokens{AccessToken: "stale", RefreshToken: "r1", TokenType: "Bearer", Expiry: &expiry})
	}))

	res, err := acts.ReconcileWatches(ctx, ReconcileWatchesInput{ConnectionRef: poblysh.ConnectionRef{
		TenantID: tenant, ConnectionID: connID, Provider: "stale"}})
	require.NoError(t, err)
	require.Equal(t, 1, conn.refreshes, "refreshed once")
	require.Equal(t, 1, res.Created, "the pass ran again with the fresh token")
	var health string
	var tok *db.Tokens
	require.NoError(t, schema.DB.WithTenant(ctx, tenant, func(tx *db.Tx) (err error) {
		c, err := tx.FindConnection(ctx, connID)
		if err != nil {
			return err
		}
		health = string(c.Health)
		tok, err = tx.LoadTokens(ctx, kr, connID)
		return err
	}))
	require.Equal(t, "healthy", health)
	require.Equal(t, "fresh", tok.AccessToken)
}

// A watch call refused with a token the connection no longer holds (it
// was disconnected and connected again while the pass ran; no refresh
// token, as with a GitHub OAuth app) is not the new grant's refusal: the
// pass fails as transient and the connection stays healthy; its retry
// runs with the new token. A refusal of the stored token still means
// needs_reauth.
func TestWatchPassIgnoresARefusalOfAReplacedToken(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	schema := dbtest.NewSchema(t)
	kr := dbtest.KeyRing(t)
	tenant, connID := dbtest.Seed(t, schema.DB, "replaced", "replaced", "acct")
	save := func(access string) { saveAccess(t, schema, kr, tenant, connID, access) }
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer new" {
			save("new") // reconnected while the old token's call ran
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	t.Cleanup(api.Close)
	spec := &connectors.Spec{Name: "replaced"}
	conn := &staleTokenConnector{hookConnector: &hookConnector{spec: spec, schema: schema}, api: api}
	acts := watchActivities(schema, kr, spec, conn)
	save("old")
	ref := poblysh.ConnectionRef{TenantID: tenant, ConnectionID: connID, Provider: "replaced"}
	health := func() string { return healthOf(t, schema, tenant, connID) }

	_, err := acts.ReconcileWatches(ctx, ReconcileWatchesInput{ConnectionRef: ref})
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr), "an activity failure, got %v", err)
	require.Equal(t, ErrTypeTransient, appErr.Type())
	require.Equal(t, "healthy", health())
	res, err := acts.ReconcileWatches(ctx, ReconcileWatchesInput{ConnectionRef: ref})
	require.NoError(t, err)
	require.Equal(t, 1, res.Created, "the retry ran with the new token")
	require.Equal(t, "healthy", health())
}

// The same refusal with the token still stored is the grant's: the
// connection needs re-authorization.
func TestWatchPassRefusedWithTheStoredToken(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	schema := dbtest.NewSchema(t)
	kr := dbtest.KeyRing(t)
	tenant, connID := dbtest.Seed(t, schema.DB, "refused", "refused", "acct")
	saveAccess(t, schema, kr, tenant, connID, "revoked")
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusUnauthorized) }))
	t.Cleanup(api.Close)
	spec := &connectors.Spec{Name: "refused"}
	conn := &staleTokenConnector{hookConnector: &hookConnector{spec: spec, schema: schema}, api: api}
	acts := watchActivities(schema, kr, spec, conn)
	_, err := acts.ReconcileWatches(ctx, ReconcileWatchesInput{ConnectionRef: poblysh.ConnectionRef{TenantID: tenant, ConnectionID: connID, Provider: "refused"}})
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr), "an activity failure, got %v", err)
	require.Equal(t, ErrTypeUnauthorized, appErr.Type())
	require.Equal(t, "needs_reauth", healthOf(t, schema, tenant, connID))
}

// watchActivities serves conn as the one provider, with a public URL, so
// watch passes open channels.
func watchActivities(schema *dbtest.Schema, kr *vault.KeyRing, spec *connectors.Spec, conn connectors.Connector) *Activities {
	return &Activities{DB: schema.DB, KeyRing: kr, Registry: connectors.NewRegistry(&connectors.Provider{
		Spec: spec, Connector: conn, Config: connectors.Config{PublicURL: "https://poblysh.example", PublicURLSet: true}})}
}

// partialConnector watches two targets; the provider refuses a channel for
// "wall" until refuse is false (a Jira webhook past a limit, a repository
// whose hook failed).
type partialConnector struct {
	*hookConnector
	refuse bool
	// fail also answers the refusal as an error, with the channels made
	// before it (as GitHub's Watch does).
	fail bool
}

func (c *partialConnector) WatchTargets(connectors.Connection) ([]string, error) {
	return []string{"board", "wall"}, nil
}

func (c *partialConnector) Watch(_ context.Context, req connectors.WatchRequest) ([]connectors.Channel, error) {
	var out []connectors.Channel
	for _, target := range req.Targets {
		if target == "wall" && c.refuse {
			if c.fail {
				return out, fmt.Errorf("%w: may not manage hooks on wall", connectors.ErrForbidden)
			}
			continue
		}
		c.created++
		out = append(out, connectors.Channel{ID: fmt.Sprintf("hook-%d", c.created), Target: target,
			RouteKey: fmt.Sprintf("rk-%d", c.created), Expires: req.Now.Add(48 * time.Hour)})
	}
	return out, nil
}

// Push is on only when every target has a channel: with one refused, the
// connection keeps polling at its interval (its schedule reads
// push_enabled), or the refused target would be read only at the
// reconciliation poll, six hours apart.
func TestPushNeedsAChannelForEveryTarget(t *testing.T) {
	t.Parallel()
	for _, fail := range []bool{false, true} {
		t.Run(fmt.Sprintf("refusal as error %v", fail), func(t *testing.T) {
			t.Parallel()
			pushNeedsEveryTarget(t, fail)
		})
	}
}

// pushNeedsEveryTarget: a channel the provider made before refusing the
// next target is stored (it exists and delivers), and push stays off.
func pushNeedsEveryTarget(t *testing.T, fail bool) {
	ctx := context.Background()
	schema := dbtest.NewSchema(t)
	kr := dbtest.KeyRing(t)
	spec := &connectors.Spec{Name: "hooked"}
	conn := &partialConnector{hookConnector: &hookConnector{spec: spec, schema: schema}, refuse: true, fail: fail}
	acts := watchActivities(schema, kr, spec, conn)
	tenant, connID := seedWithToken(t, schema, kr, "hooks", "hooked")
	ref := ReconcileWatchesInput{ConnectionRef: poblysh.ConnectionRef{TenantID: tenant, ConnectionID: connID, Provider: "hooked"}}
	pushEnabled := func() bool {
		var on bool
		require.NoError(t, schema.DB.WithSystem(ctx, func(tx *db.Tx) error {
			return tx.GetContext(ctx, &on, `SELECT push_enabled FROM connections WHERE id = $1`, connID)
		}))
		return on
	}

	res, err := acts.ReconcileWatches(ctx, ref)
	require.NoError(t, err)
	require.Equal(t, 1, res.Active)
	require.False(t, res.PushEnabled)
	require.Equal(t, []string{"wall"}, res.Uncovered)
	require.False(t, pushEnabled())

	conn.refuse = false
	res, err = acts.ReconcileWatches(ctx, ref)
	require.NoError(t, err)
	require.Equal(t, 1, res.Created, "only the missing target's channel")
	require.Equal(t, 2, res.Active)
	require.True(t, res.PushEnabled)
	require.Empty(t, res.Uncovered)
	require.True(t, pushEnabled())
}

// refreshedElsewhereConnector's API accepts only the access token in
// valid. Its Watch succeeds, and meanwhile another activity of the
// connection refreshes the token: the new one is stored, and the provider
// ends the old one (GitHub: "Once you use a refresh token, that refresh
// token and the old user access token will no longer work.").
type refreshedElsewhereConnector struct {
	*hookConnector
	api       *httptest.Server
	valid     string
	refreshed func()
	refreshes int
}

func (c *refreshedElsewhereConnector) call(ctx context.Context, hc *http.Client) error {
	r, err := http.NewRequestWithContext(ctx, http.MethodGet, c.api.URL, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(r)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized {
		return fmt.Errorf("%w: the API refused the token", connectors.ErrUnauthorized)
	}
	return nil
}

func (c *refreshedElsewhereConnector) Watch(ctx context.Context, req connectors.WatchRequest) ([]connectors.Channel, error) {
	if err := c.call(ctx, req.HTTP); err != nil {
		return nil, err
	}
	c.refreshed()
	return c.hookConnector.Watch(ctx, req)
}

func (c *refreshedElsewhereConnector) ConfirmWatch(ctx context.Context, req connectors.ConfirmWatchRequest) error {
	if err := c.call(ctx, req.HTTP); err != nil {
		return err
	}
	return c.hookConnector.ConfirmWatch(ctx, req)
}

func (c *refreshedElsewhereConnector) Refresh(_ context.Context, _ connectors.Account, refreshToken string) (*oauth2.Token, error) {
	c.refreshes++
	return &oauth2.Token{AccessToken: "minted", RefreshToken: refreshToken + "+", TokenType: "Bearer", Expiry: time.Now().Add(time.Hour)}, nil
}

// TestConfirmAfterTheTokenWasRefreshedElsewhere: a new channel is
// confirmed (GitHub: its deliveries redelivered and a ping asked for) even
// when another activity's refresh ended the token the watch pass began
// with: the refused confirmation takes the stored token and is tried again,
// spending no refresh token. (It was only logged: the end-to-end run with
// GitHub App tokens never saw the hook's confirming ping.)
func TestConfirmAfterTheTokenWasRefreshedElsewhere(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	schema := dbtest.NewSchema(t)
	kr := dbtest.KeyRing(t)
	spec := &connectors.Spec{Name: "rotating", Policy: connectors.Policy{Token: connectors.TokenPolicy{Expires: true, OnDemand: true, RotatesRefreshToken: true}}}
	tenant, connID := dbtest.Seed(t, schema.DB, "rotating", "rotating", "acct")
	save := func(access, refresh string) {
		expiry := time.Now().Add(8 * time.Hour)
		require.NoError(t, schema.DB.WithTenant(ctx, tenant, func(tx *db.Tx) error {
			return tx.SaveTokens(ctx, kr, connID, db.Tokens{AccessToken: access, RefreshToken: refresh, TokenType: "Bearer", Expiry: &expiry})
		}))
	}
	conn := &refreshedElsewhereConnector{hookConnector: &hookConnector{spec: spec, schema: schema}, valid: "first"}
	conn.api = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+conn.valid {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	t.Cleanup(conn.api.Close)
	conn.refreshed = func() { save("second", "r2"); conn.valid = "second" }
	acts := watchActivities(schema, kr, spec, conn)
	save("first", "r1")

	res, err := acts.ReconcileWatches(ctx, ReconcileWatchesInput{ConnectionRef: poblysh.ConnectionRef{
		TenantID: tenant, ConnectionID: connID, Provider: "rotating"}})
	require.NoError(t, err)
	require.Equal(t, 1, res.Created)
	require.Equal(t, []string{"hook-1"}, conn.confirmed, "the new channel is confirmed with the stored token")
	require.Zero(t, conn.refreshes, "no refresh token spent: the stored token was taken")
	require.Equal(t, "healthy", healthOf(t, schema, tenant, connID))
}
