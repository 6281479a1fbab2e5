package jira_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/connectors/jira"
	"github.com/poblysh/poblysh/sandbox"
	jirasandbox "github.com/poblysh/poblysh/sandbox/jira"
)

// harness is the connector wired to a fresh seeded sandbox.
type harness struct {
	sb   *jirasandbox.Server
	url  string
	prov *connectors.Provider
	conn connectors.Connection
	tok  string
}

func newHarness(t testing.TB, o jirasandbox.Options, projects string) *harness {
	t.Helper()
	o.Seed = true
	sb := jirasandbox.New(o)
	srv := httptest.NewServer(sb)
	t.Cleanup(srv.Close)
	ts, err := sb.IssueToken("")
	require.NoError(t, err)
	h := &harness{sb: sb, url: srv.URL, tok: ts.AccessToken}
	h.prov = provider(t, sb, srv.URL, "")
	cfg, err := h.prov.Connector.(connectors.ConfigValidator).ValidateConfig([]byte(`{"projects": ` + projects + `}`))
	require.NoError(t, err)
	h.conn = connectors.Connection{ID: "conn-1", TenantID: "tenant-1", Config: cfg, Account: connectors.Account{
		ID: jirasandbox.SiteID, Name: "acme-pr.atlassian.net",
		Metadata: map[string]string{"url": jirasandbox.SiteURL, "user_id": "5b10a2844c20165700ede21g"},
	}}
	return h
}

// provider configures the connector from the sandbox's environment, with
// another client secret when secret is not "" ("-" for none).
func provider(t testing.TB, sb *jirasandbox.Server, url, secret string) *connectors.Provider {
	t.Helper()
	env := sb.Env(url)
	switch secret {
	case "":
	case "-":
		delete(env, "POBLYSH_JIRA_CLIENT_SECRET")
	default:
		env["POBLYSH_JIRA_CLIENT_SECRET"] = secret
	}
	cfg, err := connectors.LoadConfig(jira.Spec, func(k string) string { return env[k] }, "https://poblysh.example", true)
	require.NoError(t, err)
	c, err := jira.Spec.New(cfg)
	require.NoError(t, err)
	return &connectors.Provider{Spec: jira.Spec, Config: cfg, Connector: c}
}

func (h *harness) client() *http.Client {
	return connectors.NewRegistry(h.prov).HTTPClient(h.prov, h.conn.Account.ID, h.tok)
}

// capture registers the connection's webhooks on the sandbox at the
// service's webhook URL, as the engine does (a renewal moves webhooks
// registered elsewhere), has the sandbox deliver them to a local
// receiver, and returns the deliveries it receives.
func (h *harness) capture(t testing.TB, targets ...string) (<-chan *connectors.WebhookRequest, []connectors.Channel) {
	t.Helper()
	got := make(chan *connectors.WebhookRequest, 16)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- &connectors.WebhookRequest{Header: r.Header.Clone(), Body: body, Now: time.Now()}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(recv.Close)
	h.sb.Deliverer.SetTarget(recv.URL + "/api/v1/webhooks/jira")
	chans, err := h.prov.Connector.(connectors.Watcher).Watch(context.Background(), connectors.WatchRequest{
		Connection: h.conn, HTTP: h.client(), CallbackURL: h.prov.Config.WebhookURL(jira.Provider), Targets: targets, Now: time.Now(),
	})
	require.NoError(t, err)
	require.Len(t, chans, len(targets))
	return got, chans
}

func next(t testing.TB, got <-chan *connectors.WebhookRequest) *connectors.WebhookRequest {
	t.Helper()
	select {
	case r := <-got:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery arrived")
		return nil
	}
}

var noDelivery = sandbox.DeliveryOptions{}
