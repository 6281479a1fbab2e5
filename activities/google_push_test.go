package activities

import (
	"context"
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
