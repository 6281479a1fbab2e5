package activities

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
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
