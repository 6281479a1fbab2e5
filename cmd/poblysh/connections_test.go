package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	httptransport "github.com/go-openapi/runtime/client"
	"github.com/go-openapi/strfmt"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/serviceerror"

	"github.com/poblysh/poblysh/gen/client/connect"
	"github.com/poblysh/poblysh/gen/client/connections"
	"github.com/poblysh/poblysh/gen/client/jobs"
	"github.com/poblysh/poblysh/gen/client/signals"
	"github.com/poblysh/poblysh/gen/models"
	fakesandbox "github.com/poblysh/poblysh/sandbox/fake"
	zohosandbox "github.com/poblysh/poblysh/sandbox/zoho"
	"github.com/poblysh/poblysh/workflows"
)

// owner is a small pool on the schema as its owner (test inspection only).
func (s *stack) owner() *pgxpool.Pool {
	s.t.Helper()
	s.ownerOnce.Do(func() {
		cfg, err := pgxpool.ParseConfig(s.schema.OwnerURL)
		require.NoError(s.t, err)
		cfg.MaxConns = 2
		s.ownerPool, err = pgxpool.NewWithConfig(context.Background(), cfg)
		require.NoError(s.t, err)
		s.t.Cleanup(s.ownerPool.Close)
	})
	return s.ownerPool
}

// exec runs a statement as the schema owner.
func (s *stack) exec(q string, args ...any) {
	s.t.Helper()
	_, err := s.owner().Exec(context.Background(), q, args...)
	require.NoError(s.t, err)
}

// count runs a count query as the schema owner.
func (s *stack) count(q string, args ...any) int {
	s.t.Helper()
	var n int
	require.NoError(s.t, s.owner().QueryRow(context.Background(), q, args...).Scan(&n))
	return n
}

func (s *stack) startConnect(key, provider string, cfg any) *models.ConnectResponse {
	s.t.Helper()
	res, err := s.client.Connect.StartConnect(connect.NewStartConnectParams().WithProvider(provider).
		WithBody(&models.ConnectRequest{Config: cfg}), httptransport.BearerToken(key))
	require.NoError(s.t, err)
	return res.Payload
}

// callback opens a callback URL in the user's browser (with its cookies).
func (s *stack) callback(u string) (int, string) {
	s.t.Helper()
	resp, err := s.browser.Get(u)
	require.NoError(s.t, err)
	defer resp.Body.Close()
	return resp.StatusCode, readAll(resp)
}

// TestOAuthStateIsSingleUseBoundAndExpiring: reused, expired, forged and
// wrong-provider states, and a provider-side refusal, all answer 400 and
// store nothing.
func TestOAuthStateIsSingleUseBoundAndExpiring(t *testing.T) {
	t.Parallel()
	f, env := fakeSandbox(t, fakesandbox.Options{})
	s := newStack(t, withEnv(env))
	_, keyA := s.tenant("A")
	_, keyB := s.tenant("B")
	noConnections := func() {
		t.Helper()
		require.Zero(t, s.count(`SELECT count(*) FROM connections`), "a rejected callback stores no connection")
	}

	// Forged: a state the server never issued.
	st := s.startConnect(keyA, "fake", nil)
	cb := s.authorize(st.AuthorizationURL.String())
	forged := strings.Replace(cb, "state="+url.QueryEscape(*st.State), "state=forged-state-value", 1)
	code, body := s.callback(forged)
	require.Equal(t, http.StatusBadRequest, code, body)
	require.Contains(t, body, `"code":"invalid_request"`)
	require.Contains(t, body, "unknown state")
	noConnections()

	// Wrong provider: a state issued for "fake" presented to another provider's callback.
	wrong := strings.Replace(cb, "/connect/fake/callback", "/connect/github/callback", 1)
	code, body = s.callback(wrong)
	require.Equal(t, http.StatusBadRequest, code, body)
	require.Contains(t, body, "another provider")
	// ... which also spent it: the genuine callback now fails as reused.
	code, body = s.callback(cb)
	require.Equal(t, http.StatusBadRequest, code, body)
	require.Contains(t, body, "already used")
	noConnections()

	// Expired (between the click and the callback).
	st = s.startConnect(keyA, "fake", nil)
	cb = s.authorize(st.AuthorizationURL.String())
	s.exec(`UPDATE oauth_states SET expires_at = now() - interval '1 second'`)
	code, body = s.callback(cb)
	require.Equal(t, http.StatusBadRequest, code, body)
	require.Contains(t, body, "expired")
	noConnections()

	// Provider refusal (error=access_denied): 400, nothing stored.
	st = s.startConnect(keyA, "fake", nil)
	f.OAuth.DenyNext()
	code, body = s.callback(s.authorize(st.AuthorizationURL.String()))
	require.Equal(t, http.StatusBadRequest, code, body)
	require.Contains(t, body, "access_denied")
	noConnections()

	// Reused: the first use succeeds, the second is refused.
	st = s.startConnect(keyA, "fake", nil)
	cb = s.authorize(st.AuthorizationURL.String())
	code, body = s.callback(cb)
	require.Equal(t, http.StatusOK, code, body)
	code, body = s.callback(cb)
	require.Equal(t, http.StatusBadRequest, code, body)
	require.Contains(t, body, "already used")
	require.Equal(t, 1, s.count(`SELECT count(*) FROM connections`))

	// Cross-tenant: the state binds the connection to the tenant that
	// started it; tenant B sees nothing of it.
	res, err := s.client.Connections.ListConnections(connections.NewListConnectionsParams(), httptransport.BearerToken(keyB))
	require.NoError(t, err)
	require.Empty(t, res.Payload.Connections)
	res, err = s.client.Connections.ListConnections(connections.NewListConnectionsParams(), httptransport.BearerToken(keyA))
	require.NoError(t, err)
	require.Len(t, res.Payload.Connections, 1)
}

// TestTenantIsolationAndDelete: tenant B gets 404 for everything of tenant
// A's; deleting a connection stops its schedules in Temporal and erases its
// tokens.
func TestTenantIsolationAndDelete(t *testing.T) {
	t.Parallel()
	_, env := fakeSandbox(t, fakesandbox.Options{Streams: map[string]int{"items": 40}})
	s := newStack(t, withEnv(env))
	_, keyA := s.tenant("A")
	_, keyB := s.tenant("B")
	conn := s.connect(keyA, "fake", nil)
	id := strfmt.UUID(*conn.ID)
	js := s.waitJobs(keyA, string(id), "backfill", 1, 60*time.Second)
	sigs := s.feed(keyA, 40, 30*time.Second)
	bAuth := httptransport.BearerToken(keyB)

	_, err := s.client.Connections.GetConnection(connections.NewGetConnectionParams().WithID(id), bAuth)
	var nf *connections.GetConnectionNotFound
	require.ErrorAs(t, err, &nf)
	_, err = s.client.Jobs.GetJob(jobs.NewGetJobParams().WithID(*js[0].ID), bAuth)
	var jnf *jobs.GetJobNotFound
	require.ErrorAs(t, err, &jnf)
	_, err = s.client.Signals.GetSignal(signals.NewGetSignalParams().WithID(*sigs[0].ID), bAuth)
	var snf *signals.GetSignalNotFound
	require.ErrorAs(t, err, &snf)
	_, err = s.client.Jobs.StartSync(jobs.NewStartSyncParams().WithProvider("fake").
		WithBody(&models.SyncRequest{ConnectionID: id, Mode: ptr("backfill")}), bAuth)
	var syncNF *jobs.StartSyncNotFound
	require.ErrorAs(t, err, &syncNF)
	_, err = s.client.Connections.DeleteConnection(connections.NewDeleteConnectionParams().WithID(id), bAuth)
	var dnf *connections.DeleteConnectionNotFound
	require.ErrorAs(t, err, &dnf)
	bjobs, err := s.client.Jobs.ListJobs(jobs.NewListJobsParams(), bAuth)
	require.NoError(t, err)
	require.Empty(t, bjobs.Payload.Jobs)
	bsigs, err := s.client.Signals.ListSignals(signals.NewListSignalsParams(), bAuth)
	require.NoError(t, err)
	require.Empty(t, bsigs.Payload.Signals)

	// The connection shows its cursor and counts; the schedule exists.
	got, err := s.client.Connections.GetConnection(connections.NewGetConnectionParams().WithID(id), httptransport.BearerToken(keyA))
	require.NoError(t, err)
	require.NoError(t, got.Payload.Validate(strfmt.Default))
	require.EqualValues(t, 40, got.Payload.SignalCounts["message.posted"])
	require.Len(t, got.Payload.Cursors, 1)
	require.True(t, *got.Payload.Cursors[0].HasCursor)
	sc := s.temporal.Client().ScheduleClient().GetHandle(context.Background(), workflows.PollScheduleID(s.taskQueue, string(id)))
	_, err = sc.Describe(context.Background())
	require.NoError(t, err, "the polling schedule exists while connected")
	require.Equal(t, 1, s.count(`SELECT count(*) FROM connections WHERE access_token_ct IS NOT NULL`))

	_, err = s.client.Connections.DeleteConnection(connections.NewDeleteConnectionParams().WithID(id), httptransport.BearerToken(keyA))
	require.NoError(t, err)
	_, err = sc.Describe(context.Background())
	var snotfound *serviceerror.NotFound
	require.True(t, errors.As(err, &snotfound), "the schedule is gone after delete: %v", err)
	require.Zero(t, s.count(`SELECT count(*) FROM connections WHERE access_token_ct IS NOT NULL OR refresh_token_ct IS NOT NULL`),
		"tokens are erased")
	require.Equal(t, 40, s.count(`SELECT count(*) FROM signals`), "Signals are kept without purge_signals")
	_, err = s.client.Connections.GetConnection(connections.NewGetConnectionParams().WithID(id), httptransport.BearerToken(keyA))
	require.ErrorAs(t, err, &nf)
}

// TestZohoCodeReplayedUnderAnotherStateIsRefused: a Zoho code is bound to
// the connect that asked for it (PKCE, S256). Ada's callback, opened in a
// browser that never clicked her start page, is refused before the code
// exchange, so her code is still unredeemed. Mallory, who got hold of the
// callback URL, starts a connect of her own (her tenant, her browser, her
// Zoho sign-in) and swaps Ada's code and data centre into its callback:
// the exchange goes to Ada's accounts server with Mallory's verifier, which
// Zoho refuses (HTTP 200, error invalid_code), so the callback answers 400
// invalid_request and Ada's mailbox is connected nowhere.
func TestZohoCodeReplayedUnderAnotherStateIsRefused(t *testing.T) {
	t.Parallel()
	zm := zohosandbox.ForProduct(zohosandbox.ProductMail, zohosandbox.Options{Seed: true})
	base := newHTTPServer(t, zm)
	s := newStack(t, withEnv(zm.Env(base)))
	_, adaKey := s.tenant("Zylker Europe")
	_, malloryKey := s.tenant("Mallory Ltd")

	ada := s.startConnect(adaKey, "zoho-mail", nil)
	adaCallback, err := url.Parse(s.authorize(ada.AuthorizationURL.String()))
	require.NoError(t, err)
	adaCode := adaCallback.Query()
	require.Equal(t, "eu", adaCode.Get("location"))
	resp, err := s.http.Get(adaCallback.String()) // no start-page cookie
	require.NoError(t, err)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode, readAll(resp))
	resp.Body.Close()
	require.Empty(t, zm.IssuedTokens(), "refused before the exchange: Ada's code is unredeemed")

	mallory := s.startConnect(malloryKey, "zoho-mail", nil)
	replay, err := url.Parse(s.authorize(mallory.AuthorizationURL.String(), func(q url.Values) { q.Set("login", zohosandbox.UserSam) }))
	require.NoError(t, err)
	q := replay.Query()
	for _, k := range []string{"code", "location", "accounts-server"} {
		q.Set(k, adaCode.Get(k))
	}
	replay.RawQuery = q.Encode()
	code, body := s.callback(replay.String())
	require.Equal(t, http.StatusBadRequest, code, "the replayed code connected: %s", body)
	var e models.Error
	require.NoError(t, json.Unmarshal([]byte(body), &e), body)
	require.NoError(t, e.Validate(strfmt.Default))
	require.Equal(t, "invalid_request", *e.Error.Code)
	require.Contains(t, *e.Error.Message, "the provider refused the authorization while exchanging the authorization code")
	require.Contains(t, *e.Error.Message, "invalid_code")
	require.NotContains(t, *e.Error.Message, adaCode.Get("code"))
	require.Empty(t, zm.IssuedTokens(), "Zoho redeemed no code: no token was issued")
	require.Zero(t, s.count(`SELECT count(*) FROM connections`), "Ada's mailbox is connected nowhere")
}
