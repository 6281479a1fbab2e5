package gmail_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/connectors/connectortest"
	"github.com/poblysh/poblysh/connectors/gmail"
	"github.com/poblysh/poblysh/sandbox"
	gmailsandbox "github.com/poblysh/poblysh/sandbox/gmail"
	googlesandbox "github.com/poblysh/poblysh/sandbox/google"
)

// pushURL is where the service receives pushes in these tests: the default
// audience of the tokens.
const pushURL = "https://poblysh.example/api/v1/webhooks/gmail"

// harness is a connector wired to a fresh sandbox.
type harness struct {
	sb   *gmailsandbox.Server
	url  string
	prov *connectors.Provider
	conn connectors.Connection
	tok  string
}

func newHarness(t testing.TB, opts gmailsandbox.Options, config string, settings map[string]string) *harness {
	t.Helper()
	sb := gmailsandbox.New(opts)
	srv := httptest.NewServer(sb)
	t.Cleanup(srv.Close)
	h := &harness{sb: sb, url: srv.URL, tok: sb.AccessToken("")}
	h.prov = provider(t, sb, srv.URL, settings)
	cfg, err := h.prov.Connector.(connectors.ConfigValidator).ValidateConfig([]byte(config))
	require.NoError(t, err)
	h.conn = connectors.Connection{
		ID: "conn-1", TenantID: "tenant-1", Config: cfg,
		Account: connectors.Account{ID: googlesandbox.Subject(sb.User()), Name: "Ada Lovelace", Metadata: map[string]string{"email": sb.User()}},
	}
	return h
}

// provider configures the connector from the sandbox's environment, the way
// the service does (public URL https://poblysh.example).
func provider(t testing.TB, sb *gmailsandbox.Server, url string, settings map[string]string) *connectors.Provider {
	t.Helper()
	env := sb.Env(url)
	for k, v := range settings {
		if v == "" {
			delete(env, "POBLYSH_GMAIL_"+k)
			continue
		}
		env["POBLYSH_GMAIL_"+k] = v
	}
	cfg, err := connectors.LoadConfig(gmail.Spec, func(k string) string { return env[k] }, "https://poblysh.example", true)
	require.NoError(t, err)
	c, err := gmail.Spec.New(cfg)
	require.NoError(t, err)
	return &connectors.Provider{Spec: gmail.Spec, Config: cfg, Connector: c}
}

func (h *harness) client() *http.Client {
	return connectors.NewRegistry(h.prov).HTTPClient(h.prov, h.conn.Account.ID, h.tok)
}

func (h *harness) fetch(t *testing.T, stream string, cursor json.RawMessage) (*connectors.Page, error) {
	t.Helper()
	return h.prov.Connector.(connectors.Syncer).FetchPage(context.Background(), connectors.PageRequest{
		Connection: h.conn, Stream: stream, Cursor: cursor, HTTP: h.client(), Now: time.Now(),
	})
}

func (h *harness) drain(t *testing.T, stream string, cursor json.RawMessage) ([]connectors.Signal, json.RawMessage) {
	t.Helper()
	var all []connectors.Signal
	for range 1000 {
		p, err := h.fetch(t, stream, cursor)
		require.NoError(t, err)
		for _, s := range p.Signals {
			require.NoError(t, connectors.ValidateSignal(gmail.Spec, s), s.DedupeKey)
		}
		all = append(all, p.Signals...)
		cursor = p.Next
		if p.Done {
			return all, cursor
		}
	}
	t.Fatal("stream did not finish")
	return nil, nil
}

func TestConformance(t *testing.T) {
	hooks := pushCases(t)
	connectortest.Run(t, func(t *testing.T) *connectortest.Env {
		env := conformanceEnv(t, hooks)
		env.Examples = catalogExamples(t)
		return env
	})
}

// conformanceEnv is the connector against a fresh seeded sandbox (the
// fuzz targets share it).
func conformanceEnv(t testing.TB, hooks []connectortest.WebhookCase) *connectortest.Env {
	h := newHarness(t, gmailsandbox.Options{Seed: true, PageSize: 1}, `{}`, nil)
	return &connectortest.Env{
		Provider:    h.prov,
		Connection:  h.conn,
		AccessToken: h.tok,
		Expected: map[string]int{
			"label:INBOX": gmailsandbox.InboxSignals,
			"label:SENT":  gmailsandbox.SentSignals,
		},
		InjectFault: h.sb.Base.Faults.Add,
		ErrorCases: append(connectortest.DefaultErrorCases(),
			connectortest.ErrorCase{Name: "403 rateLimitExceeded", Fault: gmailsandbox.RateLimitFault("rateLimitExceeded", 1), Want: connectors.ErrRateLimited},
			connectortest.ErrorCase{Name: "403 userRateLimitExceeded", Fault: gmailsandbox.RateLimitFault("userRateLimitExceeded", 1), Want: connectors.ErrRateLimited},
			connectortest.ErrorCase{Name: "429 with Retry-After", Fault: googlesandbox.TooManyRequestsFault(2, 1, "/gmail/v1/"), Want: connectors.ErrRateLimited, WantRetryAfter: 2 * time.Second},
		),
		Webhooks:    hooks,
		WrongSecret: provider(t, h.sb, h.url, map[string]string{"PUSH_SERVICE_ACCOUNT": "other@project.iam.gserviceaccount.com"}),
		NoSecret:    provider(t, h.sb, h.url, map[string]string{"PUSH_SERVICE_ACCOUNT": ""}),
		// A Pub/Sub push's OIDC token says who sent it and for whom, not
		// what: a tampered body verifies (and can only nudge a sync).
		BodyUnsigned: true,
	}
}

// pushCases captures the pushes a watched sandbox mailbox publishes.
func pushCases(t testing.TB) []connectortest.WebhookCase {
	type got struct {
		hdr  http.Header
		body []byte
	}
	captured := make(chan got, 8)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		captured <- got{r.Header.Clone(), b}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(recv.Close)
	h := newHarness(t, gmailsandbox.Options{Seed: true, PushAudience: pushURL}, `{}`, nil)
	h.sb.Base.Deliverer.SetTarget(recv.URL)
	_, err := h.prov.Connector.(connectors.Watcher).Watch(context.Background(), connectors.WatchRequest{
		Connection: h.conn, HTTP: h.client(), CallbackURL: pushURL, Now: time.Now(),
	})
	require.NoError(t, err)
	_, _, err = h.sb.AddMessage(context.Background(), gmailsandbox.MessageInput{From: "jo@northwind-pr.example", To: h.sb.User(), Subject: "Hello"}, sandbox.DeliveryOptions{})
	require.NoError(t, err)
	select {
	case g := <-captured:
		return []connectortest.WebhookCase{{Name: "push", Request: &connectors.WebhookRequest{Header: g.hdr, Body: g.body, Now: time.Now()},
			WantNotify: true}}
	case <-time.After(10 * time.Second):
		t.Fatal("no push arrived")
		return nil
	}
}
