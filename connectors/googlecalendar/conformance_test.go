package googlecalendar_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/connectors/connectortest"
	"github.com/poblysh/poblysh/connectors/googlecalendar"
	"github.com/poblysh/poblysh/sandbox"
	gcalsandbox "github.com/poblysh/poblysh/sandbox/googlecalendar"
)

const testSecret = "webhook-secret-for-tests"

// harness is a connector wired to a fresh seeded sandbox.
type harness struct {
	sb   *gcalsandbox.Server
	url  string
	prov *connectors.Provider
	conn connectors.Connection
	tok  string
	// mem remembers fingerprints and stored Signals as the engine does.
	mem *memory
}

// memory is connectors.Memory the way the engine keeps it: fingerprints
// replaced per page, Signals stored once per dedupe key.
type memory struct {
	fps  map[string]connectors.Fingerprint
	sigs map[string]connectors.Payload
}

func newMemory() *memory {
	return &memory{fps: map[string]connectors.Fingerprint{}, sigs: map[string]connectors.Payload{}}
}

func (m *memory) Fingerprints(_ context.Context, keys []string) (map[string]connectors.Fingerprint, error) {
	out := map[string]connectors.Fingerprint{}
	for _, k := range keys {
		if f, ok := m.fps[k]; ok {
			out[k] = f
		}
	}
	return out, nil
}

func (m *memory) Signals(_ context.Context, keys []string) (map[string]connectors.Payload, error) {
	out := map[string]connectors.Payload{}
	for _, k := range keys {
		if p, ok := m.sigs[k]; ok {
			out[k] = p
		}
	}
	return out, nil
}

// store keeps what a page leaves behind, as SyncPage's transaction does.
func (m *memory) store(p *connectors.Page) {
	for _, s := range p.Signals {
		if _, dup := m.sigs[s.DedupeKey]; !dup {
			m.sigs[s.DedupeKey] = s.Payload
		}
	}
	for k, f := range p.Fingerprints {
		m.fps[k] = f
	}
}

// newHarness starts a seeded sandbox (3 events per page, so every seeded
// calendar needs several pages) and a provider configured against it.
func newHarness(t testing.TB, opts gcalsandbox.Options, settings map[string]string) *harness {
	t.Helper()
	sb := gcalsandbox.New(opts)
	srv := httptest.NewServer(sb)
	t.Cleanup(srv.Close)
	t.Cleanup(sb.Close)
	h := &harness{sb: sb, url: srv.URL, tok: sb.AccessToken(""), mem: newMemory()}
	h.prov = provider(t, sb, srv.URL, testSecret, settings)
	cfg, err := h.prov.Connector.(connectors.ConfigValidator).ValidateConfig(
		[]byte(`{"calendars": ["primary", "` + gcalsandbox.TeamCalendarID + `"], "backfill_days": 3650}`)) // the seed is of January 2025
	require.NoError(t, err)
	h.conn = connectors.Connection{
		ID: "conn-1", TenantID: "tenant-1",
		Account: connectors.Account{ID: gcalsandbox.Subject(sb.User()), Name: sb.User(),
			Metadata: map[string]string{"email": sb.User()}}, Config: cfg,
	}
	return h
}

// provider configures the connector from the sandbox's environment, the
// way the service does.
func provider(t testing.TB, sb *gcalsandbox.Server, url, secret string, settings map[string]string) *connectors.Provider {
	t.Helper()
	env := sb.Env(url)
	env["POBLYSH_GOOGLE_CALENDAR_WEBHOOK_SECRET"] = secret
	for k, v := range settings {
		env["POBLYSH_GOOGLE_CALENDAR_"+k] = v
	}
	cfg, err := connectors.LoadConfig(googlecalendar.Spec, func(k string) string { return env[k] }, "https://poblysh.example", true)
	require.NoError(t, err)
	c, err := googlecalendar.Spec.New(cfg)
	require.NoError(t, err)
	return &connectors.Provider{Spec: googlecalendar.Spec, Config: cfg, Connector: c}
}

// client is the engine's authorized, classifying client for the harness.
func (h *harness) client() *http.Client {
	return connectors.NewRegistry(h.prov).HTTPClient(h.prov, h.conn.Account.ID, h.tok)
}

func TestConformance(t *testing.T) {
	hooks := pushCases(t)
	connectortest.Run(t, func(t *testing.T) *connectortest.Env {
		env := conformanceEnv(t, hooks)
		env.Examples = googlecalendar.CatalogExamples(t)
		return env
	})
}

// conformanceEnv is the connector against a fresh seeded sandbox (the
// fuzz targets share it).
func conformanceEnv(t testing.TB, hooks []connectortest.WebhookCase) *connectortest.Env {
	h := newHarness(t, gcalsandbox.Options{Seed: true, PageSize: 3}, nil)
	return &connectortest.Env{
		Provider:    h.prov,
		Connection:  h.conn,
		AccessToken: h.tok,
		Expected: map[string]int{
			"events:primary":                       gcalsandbox.PrimarySignals,
			"events:" + gcalsandbox.TeamCalendarID: gcalsandbox.TeamSignals,
		},
		InjectFault: h.sb.Base.Faults.Add,
		ErrorCases: append(connectortest.DefaultErrorCases(),
			connectortest.ErrorCase{Name: "403 rateLimitExceeded", Fault: gcalsandbox.RateLimitFault("rateLimitExceeded", 1), Want: connectors.ErrRateLimited},
			connectortest.ErrorCase{Name: "403 userRateLimitExceeded", Fault: gcalsandbox.RateLimitFault("userRateLimitExceeded", 1), Want: connectors.ErrRateLimited},
			connectortest.ErrorCase{Name: "410 fullSyncRequired", Fault: sandbox.Fault{Status: http.StatusGone}, Want: connectors.ErrCursorExpired},
		),
		Webhooks:     hooks,
		BodyUnsigned: true, // the channel token covers no body (and Google sends none)
		WrongSecret:  provider(t, h.sb, h.url, "another-secret", nil),
		NoSecret:     provider(t, h.sb, h.url, "", nil),
	}
}

// pushCases registers a real watch channel on a sandbox and captures the
// notifications it pushes: the "sync" after watch, an "exists" after an
// event is created and a "not_exists".
func pushCases(t testing.TB) []connectortest.WebhookCase {
	captured := make(chan http.Header, 8)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		require.Empty(t, body, "Calendar push notifications have no body")
		captured <- r.Header.Clone()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(recv.Close)
	h := newHarness(t, gcalsandbox.Options{Seed: true}, nil)
	ctx := context.Background()
	chans, err := h.prov.Connector.(connectors.Watcher).Watch(ctx, connectors.WatchRequest{
		Connection: h.conn, HTTP: h.client(), CallbackURL: recv.URL, Targets: []string{"primary"}, Now: time.Now(),
	})
	require.NoError(t, err)
	require.Len(t, chans, 1)
	next := func() *connectors.WebhookRequest {
		select {
		case hdr := <-captured:
			return &connectors.WebhookRequest{Header: hdr, Now: time.Now()}
		case <-time.After(10 * time.Second):
			t.Fatal("no push notification arrived")
			return nil
		}
	}
	syncReq := next()
	_, _, err = h.sb.CreateEvent(ctx, "primary", gcalsandbox.EventInput{Summary: "Launch retro"}, sandbox.DeliveryOptions{})
	require.NoError(t, err)
	existsReq := next()
	h.sb.Notify(ctx, "primary", "not_exists", sandbox.DeliveryOptions{})
	goneReq := next()
	return []connectortest.WebhookCase{
		{Name: "sync", Request: syncReq, WantNotify: false},
		{Name: "exists", Request: existsReq, WantNotify: true},
		{Name: "not_exists", Request: goneReq, WantNotify: true},
	}
}
