package activities

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/connectors/google"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
)

// unverifiedDomainConnector watches through an API that answers the watch
// call as Google's events.watch and changes.watch do for a callback URL
// whose domain the project has not verified: 401 with the reason
// push.webhookUrlUnauthorized. Its responses are classified as Google's.
type unverifiedDomainConnector struct {
	*staleTokenConnector
}

func (c *unverifiedDomainConnector) ClassifyResponse(resp *http.Response) error {
	return google.Classify(resp)
}

func (c *unverifiedDomainConnector) Watch(ctx context.Context, req connectors.WatchRequest) ([]connectors.Channel, error) {
	if err := google.Call(ctx, req.HTTP, http.MethodPost, c.api.URL+"/calendars/primary/events/watch",
		map[string]string{"id": "poblysh-x"}, nil, google.Classify); err != nil {
		return nil, err
	}
	return c.hookConnector.Watch(ctx, req)
}

// A watch call Google refuses because the callback URL's domain is not
// verified for the project is not the grant's refusal: the pass neither
// refreshes the token nor marks the connection needs_reauth (which paused
// its schedules, so a working grant stopped syncing); it polls, and its
// watch_error names the domain verification. (Any 401 was ErrUnauthorized.)
func TestWatchRefusedForAnUnverifiedCallbackDomainPolls(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	schema := dbtest.NewSchema(t)
	kr := dbtest.KeyRing(t)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"error":{"code":401,"message":"Unauthorized WebHook callback channel: https://poblysh.example/api/v1/webhooks/gcal401",` +
			`"errors":[{"domain":"global","reason":"push.webhookUrlUnauthorized","message":"Unauthorized WebHook callback channel"}]}}`))
	}))
	t.Cleanup(api.Close)
	spec := &connectors.Spec{Name: "gcal401", Policy: connectors.Policy{Token: connectors.TokenPolicy{Expires: true, OnDemand: true}}}
	conn := &unverifiedDomainConnector{&staleTokenConnector{hookConnector: &hookConnector{spec: spec, schema: schema}, api: api}}
	acts := watchActivities(schema, kr, spec, conn)
	tenant, connID := dbtest.Seed(t, schema.DB, "gcal401", "gcal401", "acct")
	expiry := time.Now().Add(time.Hour)
	require.NoError(t, schema.DB.WithTenant(ctx, tenant, func(tx *db.Tx) error {
		return tx.SaveTokens(ctx, kr, connID, db.Tokens{AccessToken: "good", RefreshToken: "r1", TokenType: "Bearer", Expiry: &expiry})
	}))

	res, err := acts.ReconcileWatches(ctx, ReconcileWatchesInput{ConnectionRef: poblysh.ConnectionRef{TenantID: tenant, ConnectionID: connID, Provider: "gcal401"}})
	require.NoError(t, err, "the connection polls instead")
	require.Equal(t, 0, conn.refreshes, "the token is not what Google refused")
	require.Equal(t, "healthy", healthOf(t, schema, tenant, connID))
	require.False(t, res.PushEnabled)
	require.Equal(t, 0, res.Created)
	require.Contains(t, res.WatchError, "push.webhookUrlUnauthorized")
	require.Contains(t, res.WatchError, "Domain verification")
}

// rotatingConnector opens Google-style channels: a week's life and a
// channel token derived from the webhook secret when the channel is made,
// which Google then echoes on every notification (google.ChannelToken).
// SecretID names the secret it makes channels under now.
type rotatingConnector struct {
	*hookConnector
	secret string
	tokens map[string]string // channel id -> the token Google holds
	// fail, when set, is what Watch answers (Google failing or refusing).
	fail error
}

func (c *rotatingConnector) SecretID() string {
	if c.secret == "" {
		return ""
	}
	sum := sha256.Sum256([]byte("id:" + c.secret))
	return hex.EncodeToString(sum[:8])
}

func (c *rotatingConnector) Watch(_ context.Context, req connectors.WatchRequest) ([]connectors.Channel, error) {
	if c.secret == "" {
		return nil, fmt.Errorf("%w: no webhook secret is set", connectors.ErrInvalidConfig)
	}
	if c.fail != nil {
		return nil, c.fail
	}
	var out []connectors.Channel
	for _, target := range req.Targets {
		c.created++
		id := fmt.Sprintf("poblysh-%d", c.created)
		c.tokens[id] = google.ChannelToken(c.secret, id)
		out = append(out, connectors.Channel{ID: id, Target: target, Stream: "events:" + target,
			RouteKey: google.RouteKey(id), Expires: req.Now.Add(7 * 24 * time.Hour)})
	}
	return out, nil
}

func (c *rotatingConnector) StopWatch(_ context.Context, req connectors.StopWatchRequest) error {
	c.stopped = append(c.stopped, req.Channel.ID)
	return nil
}

// A rotated webhook secret (POBLYSH_GOOGLE_*_WEBHOOK_SECRET set anew and
// the processes restarted) leaves the channels Google holds with tokens
// derived from the old one: the renewal sweep lists their connections at
// once, though no channel is near its expiry, and the pass it starts
// replaces them with channels whose tokens the new secret verifies. The
// channels store which secret they were made under as a fingerprint, never
// the secret. (Only channels due for renewal were replaced, so every
// notification was refused, 401, which Google does not retry, for up to
// six days while push_enabled stayed true and the connection polled every
// 6 hours.)
func TestRotatedWebhookSecretReplacesChannels(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	schema := dbtest.NewSchema(t)
	kr := dbtest.KeyRing(t)
	spec := &connectors.Spec{Name: "gcal-rotate"}
	conn := &rotatingConnector{hookConnector: &hookConnector{spec: spec, schema: schema}, secret: "old-secret", tokens: map[string]string{}}
	acts := watchActivities(schema, kr, spec, conn)
	acts.RenewalInterval = 30 * time.Minute
	tenant, connID := seedWithToken(t, schema, kr, "rotate", "gcal-rotate")
	ref := poblysh.ConnectionRef{TenantID: tenant, ConnectionID: connID, Provider: "gcal-rotate"}
	listed := func() []string {
		t.Helper()
		res, err := acts.ListDueWatches(ctx, ListDueInput{Limit: 100})
		require.NoError(t, err)
		return dueIDs(res)
	}

	res, err := acts.ReconcileWatches(ctx, ReconcileWatchesInput{ConnectionRef: ref})
	require.NoError(t, err)
	require.Equal(t, 1, res.Created)
	require.Empty(t, listed(), "a week-long channel under the current secret is not due")
	res, err = acts.ReconcileWatches(ctx, ReconcileWatchesInput{ConnectionRef: ref})
	require.NoError(t, err)
	require.Equal(t, 0, res.Created+res.Stopped, "nor replaced by a pass")

	conn.secret = "new-secret" // rotated, and the processes restarted
	require.Equal(t, []string{connID}, listed(), "the sweep starts a pass for the channels under the old secret")
	res, err = acts.ReconcileWatches(ctx, ReconcileWatchesInput{ConnectionRef: ref})
	require.NoError(t, err)
	require.Equal(t, 1, res.Created)
	require.Equal(t, 1, res.Stopped)
	require.Equal(t, []string{"poblysh-1"}, conn.stopped, "the channel under the old secret is stopped once its successor is stored")
	require.True(t, res.PushEnabled)

	var live []db.WatchChannel
	var stored []string
	require.NoError(t, schema.DB.WithTenant(ctx, tenant, func(tx *db.Tx) (err error) {
		if live, err = tx.ActiveWatchChannels(ctx, connID); err != nil {
			return err
		}
		return tx.SelectContext(ctx, &stored, `SELECT coalesce(secret_id, '') FROM watch_channels WHERE connection_id = $1 ORDER BY created_at`, connID)
	}))
	require.Len(t, live, 1)
	require.Equal(t, google.ChannelToken("new-secret", live[0].ChannelID), conn.tokens[live[0].ChannelID],
		"the open channel's notifications carry a token the new secret verifies")
	require.Equal(t, []string{(&rotatingConnector{secret: "old-secret"}).SecretID(), conn.SecretID()}, stored,
		"each channel records the fingerprint of the secret it was made under")
	for _, id := range stored {
		require.NotContains(t, id, "secret")
	}
	require.Empty(t, listed(), "nothing is due once the channels are under the current secret")

	// The secret removed: no notification verifies, so the channel is
	// stopped and the connection polls.
	conn.secret = ""
	require.Equal(t, []string{connID}, listed())
	res, err = acts.ReconcileWatches(ctx, ReconcileWatchesInput{ConnectionRef: ref})
	require.NoError(t, err)
	require.Equal(t, 1, res.Stopped)
	require.False(t, res.PushEnabled)
	require.NotEmpty(t, res.WatchError)
}

// retrySetup is one connection of a provider whose channels live a week,
// under a pinned clock.
type retrySetup struct {
	schema *dbtest.Schema
	acts   *Activities
	conn   *rotatingConnector
	tenant string
	ref    poblysh.ConnectionRef
	clock  time.Time
}

func newRetrySetup(t *testing.T, name string) *retrySetup {
	t.Helper()
	s := &retrySetup{schema: dbtest.NewSchema(t), clock: time.Now().UTC().Truncate(time.Second)}
	kr := dbtest.KeyRing(t)
	spec := &connectors.Spec{Name: name, Policy: connectors.Policy{ReconcileInterval: 2 * time.Hour}}
	s.conn = &rotatingConnector{hookConnector: &hookConnector{spec: spec, schema: s.schema}, secret: "s", tokens: map[string]string{}}
	s.acts = watchActivities(s.schema, kr, spec, s.conn)
	s.acts.RenewalInterval = 30 * time.Minute
	s.acts.Now = func() time.Time { return s.clock }
	tenant, connID := seedWithToken(t, s.schema, kr, name, name)
	s.tenant, s.ref = tenant, poblysh.ConnectionRef{TenantID: tenant, ConnectionID: connID, Provider: name}
	return s
}

// listed reports whether the renewal sweep lists the connection now.
func (s *retrySetup) listed(t *testing.T) bool {
	t.Helper()
	res, err := s.acts.ListDueWatches(context.Background(), ListDueInput{Limit: 100})
	require.NoError(t, err)
	return slices.Contains(dueIDs(res), s.ref.ConnectionID)
}

func (s *retrySetup) pass(t *testing.T) (ReconcileWatchesResult, error) {
	t.Helper()
	return s.acts.ReconcileWatches(context.Background(), ReconcileWatchesInput{ConnectionRef: s.ref})
}

func (s *retrySetup) openChannels(t *testing.T) int {
	t.Helper()
	var live []db.WatchChannel
	require.NoError(t, s.schema.DB.WithTenant(context.Background(), s.tenant, func(tx *db.Tx) (err error) {
		live, err = tx.ActiveWatchChannels(context.Background(), s.ref.ConnectionID)
		return err
	}))
	return len(live)
}

// A connection whose first watch pass failed (Google answering 503 for the
// length of the workflow's attempts) has no channel, and so nothing the
// renewal sweep renews; it is listed all the same once its retry is due,
// a sweep interval later, and the pass then opens its channel. (The sweep
// listed only connections with a channel: such a connection never had
// another watch pass and polled every 5 minutes for good.)
func TestFailedFirstWatchPassIsRetried(t *testing.T) {
	t.Parallel()
	s := newRetrySetup(t, "first-fail")
	s.conn.fail = fmt.Errorf("%w: HTTP 503 backendError", connectors.ErrTransient)
	_, err := s.pass(t)
	require.Error(t, err)
	require.Equal(t, 0, s.openChannels(t))
	require.False(t, s.listed(t), "not before a sweep interval has passed")

	s.conn.fail = nil // Google is back
	s.clock = s.clock.Add(30 * time.Minute)
	require.True(t, s.listed(t), "the sweep starts a watch pass for the connection without a channel")
	res, err := s.pass(t)
	require.NoError(t, err)
	require.Equal(t, 1, res.Created)
	require.True(t, res.PushEnabled)
	require.Equal(t, 1, s.openChannels(t))
	s.clock = s.clock.Add(24 * time.Hour)
	require.False(t, s.listed(t), "a pass that worked leaves nothing to retry")
}

// A renewal whose watch Google refuses (forbidden, or invalid
// configuration: a callback domain not verified) stops the channel it
// was renewing and leaves the connection without one; it is tried again
// at growing intervals, at most the provider's reconcile interval, so a
// refusal that lasts costs a pass that often and one that is lifted is
// noticed. (The refusal left no channel row, so no pass ever came again.)
func TestRefusedWatchIsRetriedWithBackoff(t *testing.T) {
	t.Parallel()
	s := newRetrySetup(t, "refused")
	res, err := s.pass(t)
	require.NoError(t, err)
	require.Equal(t, 1, res.Created)

	// A week on, the channel is due; the project now refuses the watch.
	s.clock = s.clock.Add(7*24*time.Hour - time.Hour)
	s.conn.fail = fmt.Errorf("%w: HTTP 401 push.webhookUrlUnauthorized", connectors.ErrInvalidConfig)
	require.True(t, s.listed(t))
	res, err = s.pass(t)
	require.NoError(t, err, "the connection polls")
	require.NotEmpty(t, res.WatchError)
	require.Equal(t, 1, res.Stopped)
	require.False(t, res.PushEnabled)
	require.Equal(t, 0, s.openChannels(t))

	// Retried a sweep interval later, then after twice as long each time
	// it is refused again (the time it has been refused), up to the
	// reconcile interval (2 hours here).
	for _, wait := range []time.Duration{30 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour, 2 * time.Hour} {
		s.clock = s.clock.Add(wait - time.Minute)
		require.False(t, s.listed(t), "not retried before %s", wait)
		s.clock = s.clock.Add(time.Minute)
		require.True(t, s.listed(t), "retried after %s", wait)
		res, err = s.pass(t)
		require.NoError(t, err)
		require.NotEmpty(t, res.WatchError)
	}

	s.conn.fail = nil // the domain verified
	s.clock = s.clock.Add(2 * time.Hour)
	require.True(t, s.listed(t))
	res, err = s.pass(t)
	require.NoError(t, err)
	require.Equal(t, 1, res.Created)
	require.True(t, res.PushEnabled)
	s.clock = s.clock.Add(24 * time.Hour)
	require.False(t, s.listed(t))
}

// A pass that worked but left a target without a channel because the
// provider cannot watch it (a holiday calendar: no refusal, no error) is
// not retried: every retry would ask again in vain.
func TestUnwatchableTargetIsNotRetried(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	schema := dbtest.NewSchema(t)
	kr := dbtest.KeyRing(t)
	spec := &connectors.Spec{Name: "holiday"}
	conn := &partialConnector{hookConnector: &hookConnector{spec: spec, schema: schema}, refuse: true}
	acts := watchActivities(schema, kr, spec, conn)
	acts.RenewalInterval = 30 * time.Minute
	clock := time.Now()
	acts.Now = func() time.Time { return clock }
	tenant, connID := seedWithToken(t, schema, kr, "holiday", "holiday")
	res, err := acts.ReconcileWatches(ctx, ReconcileWatchesInput{ConnectionRef: poblysh.ConnectionRef{TenantID: tenant, ConnectionID: connID, Provider: "holiday"}})
	require.NoError(t, err)
	require.Equal(t, 1, res.Created)
	require.Equal(t, []string{"wall"}, res.Uncovered)
	require.Empty(t, res.WatchError)
	clock = clock.Add(6 * time.Hour)
	listed, err := acts.ListDueWatches(ctx, ListDueInput{Limit: 100})
	require.NoError(t, err)
	require.NotContains(t, dueIDs(listed), connID)
}
