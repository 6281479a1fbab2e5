package slack

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/connectors/connectortest"
	"github.com/poblysh/poblysh/sandbox"
	slacksandbox "github.com/poblysh/poblysh/sandbox/slack"
)

const testCallback = "http://poblysh.test/api/v1/connect/slack/callback"

// fake is a running sandbox with a provider configured against it.
type fake struct {
	sb       *slacksandbox.Server
	srv      *httptest.Server
	provider *connectors.Provider
	conn     *Connector
}

// newFake starts a sandbox and configures the connector against it; extra
// adds or overrides POBLYSH_SLACK_* variables.
func newFake(t testing.TB, opts slacksandbox.Options, extra map[string]string) *fake {
	t.Helper()
	sb := slacksandbox.New(opts)
	srv := httptest.NewServer(sb)
	t.Cleanup(srv.Close)
	env := sb.Env(srv.URL)
	for k, v := range extra {
		env[k] = v
	}
	p := newProvider(t, env)
	return &fake{sb: sb, srv: srv, provider: p, conn: p.Connector.(*Connector)}
}

// newProvider builds the provider from environment variables the way the
// service does.
func newProvider(t testing.TB, env map[string]string) *connectors.Provider {
	t.Helper()
	cfg, err := connectors.LoadConfig(Spec, func(k string) string { return env[k] }, "http://poblysh.test", true)
	require.NoError(t, err)
	c, err := Spec.New(cfg)
	require.NoError(t, err)
	c.(*Connector).UsePacer(&testPacer{local: newLocalPacer()})
	return &connectors.Provider{Spec: Spec, Config: cfg, Connector: c}
}

// testPacer records every budget booked and paces only the non-Marketplace
// one: the tier budgets would make tests of many pages slow
// (TestTierBudgets checks them).
type testPacer struct {
	mu    sync.Mutex
	keys  []string
	local *localPacer
}

func (p *testPacer) Reserve(ctx context.Context, key string, every time.Duration, burst int, within time.Duration) (time.Duration, bool, error) {
	p.mu.Lock()
	p.keys = append(p.keys, key)
	p.mu.Unlock()
	if strings.HasSuffix(key, ":"+slow.name) {
		return p.local.Reserve(ctx, key, every, burst, within)
	}
	return 0, true, nil
}

func (p *testPacer) booked() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.keys...)
}

// authorize follows the browser leg against the sandbox and returns the
// code from the redirect to the callback.
func (f *fake) authorize(t testing.TB, extra ...oauth2.AuthCodeOption) string {
	t.Helper()
	cb := connectortest.Authorize(t, f.provider, testCallback, extra...)
	require.Equal(t, "state-1", cb.Get("state"))
	return cb.Get("code")
}

// connect installs the app through the connector (authorize, Exchange,
// Identify) and returns a connection over channels plus its token.
func (f *fake) connect(t testing.TB, channels ...string) (connectors.Connection, *oauth2.Token) {
	t.Helper()
	ctx := context.Background()
	tok, err := f.conn.Exchange(ctx, connectors.ExchangeRequest{Code: f.authorize(t), RedirectURL: testCallback})
	require.NoError(t, err)
	acct, err := f.conn.Identify(ctx, tok, f.client(""))
	require.NoError(t, err)
	raw, _ := json.Marshal(map[string][]string{"channels": channels})
	cfg, err := f.conn.ValidateConfig(raw)
	require.NoError(t, err)
	return connectors.Connection{ID: "conn-1", TenantID: "tenant-1", Account: acct, Config: cfg}, tok
}

// client is the engine's client for the sandbox workspace with token.
func (f *fake) client(token string) *http.Client {
	return connectors.NewRegistry(f.provider).HTTPClient(f.provider, slacksandbox.DefaultTeamID, token)
}

// fetch reads one page.
func (f *fake) fetch(t *testing.T, conn connectors.Connection, hc *http.Client, stream string, cursor json.RawMessage) (*connectors.Page, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return f.conn.FetchPage(ctx, connectors.PageRequest{Connection: conn, Stream: stream, Cursor: cursor, HTTP: hc, Now: time.Now()})
}

// drain reads a stream to Done and returns its Signals, the resting cursor
// and the number of pages.
func (f *fake) drain(t *testing.T, conn connectors.Connection, hc *http.Client, stream string, cursor json.RawMessage) ([]connectors.Signal, json.RawMessage, int) {
	t.Helper()
	var all []connectors.Signal
	for pages := 1; pages < 1000; pages++ {
		p, err := f.fetch(t, conn, hc, stream, cursor)
		require.NoError(t, err)
		all = append(all, p.Signals...)
		cursor = p.Next
		if p.Done {
			return all, cursor, pages
		}
	}
	t.Fatal("stream did not finish")
	return nil, nil, 0
}

func fixture(t *testing.T, name string) []byte { return connectortest.Fixture(t, name) }

func countKinds(sigs []connectors.Signal) map[string]int { return connectortest.CountKinds(sigs) }

// sandboxFault is an HTTP fault with a Slack-shaped default body.
func sandboxFault(status, retryAfter int) sandbox.Fault {
	return sandbox.Fault{Status: status, RetryAfter: retryAfter}
}

// fastClient is the engine's transport (auth, classification) without the
// policy's pacing, for tests that make many calls.
func fastClient(token string) *http.Client {
	return &http.Client{Transport: &connectors.Transport{Provider: Name, Auth: "Bearer " + token, Classify: classifyResponse}}
}
