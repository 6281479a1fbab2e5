package googledrive_test

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
	"github.com/poblysh/poblysh/connectors/googledrive"
	"github.com/poblysh/poblysh/sandbox"
	googlesandbox "github.com/poblysh/poblysh/sandbox/google"
	drivesandbox "github.com/poblysh/poblysh/sandbox/googledrive"
)

const testSecret = "webhook-secret-for-tests"

// harness is a connector wired to a fresh seeded sandbox.
type harness struct {
	sb   *drivesandbox.Server
	url  string
	prov *connectors.Provider
	conn connectors.Connection
	tok  string
}

// pressConfig tracks the seeded Press folder and the Comms shared drive.
var pressConfig = `{"folders": ["` + drivesandbox.PressFolderID + `"], "shared_drives": ["` + drivesandbox.CommsDriveID + `"]}`

func newHarness(t testing.TB, opts drivesandbox.Options, config string, settings map[string]string) *harness {
	t.Helper()
	sb := drivesandbox.New(opts)
	srv := httptest.NewServer(sb)
	t.Cleanup(srv.Close)
	t.Cleanup(sb.Close)
	h := &harness{sb: sb, url: srv.URL, tok: sb.AccessToken("")}
	h.prov = provider(t, sb, srv.URL, testSecret, settings)
	cfg, err := h.prov.Connector.(connectors.ConfigValidator).ValidateConfig([]byte(config))
	require.NoError(t, err)
	h.conn = connectors.Connection{
		ID: "conn-1", TenantID: "tenant-1", Config: cfg,
		Account: connectors.Account{ID: googlesandbox.Subject(sb.User()), Name: sb.User(), Metadata: map[string]string{"email": sb.User()}},
	}
	return h
}

// provider configures the connector from the sandbox's environment, the way
// the service does.
func provider(t testing.TB, sb *drivesandbox.Server, url, secret string, settings map[string]string) *connectors.Provider {
	t.Helper()
	env := sb.Env(url)
	env["POBLYSH_GOOGLE_DRIVE_WEBHOOK_SECRET"] = secret
	for k, v := range settings {
		env["POBLYSH_GOOGLE_DRIVE_"+k] = v
	}
	cfg, err := connectors.LoadConfig(googledrive.Spec, func(k string) string { return env[k] }, "https://poblysh.example", true)
	require.NoError(t, err)
	c, err := googledrive.Spec.New(cfg)
	require.NoError(t, err)
	return &connectors.Provider{Spec: googledrive.Spec, Config: cfg, Connector: c}
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
	h := newHarness(t, drivesandbox.Options{Seed: true, PageSize: 2}, pressConfig, nil)
	return &connectortest.Env{
		Provider:    h.prov,
		Connection:  h.conn,
		AccessToken: h.tok,
		Expected: map[string]int{
			"changes":                            drivesandbox.PressSignals,
			"drive:" + drivesandbox.CommsDriveID: drivesandbox.CommsSignals,
		},
		InjectFault: h.sb.Base.Faults.Add,
		ErrorCases: append(connectortest.DefaultErrorCases(),
			connectortest.ErrorCase{Name: "403 rateLimitExceeded", Fault: drivesandbox.RateLimitFault("rateLimitExceeded", 1), Want: connectors.ErrRateLimited},
			connectortest.ErrorCase{Name: "403 userRateLimitExceeded", Fault: drivesandbox.RateLimitFault("userRateLimitExceeded", 1), Want: connectors.ErrRateLimited},
			connectortest.ErrorCase{Name: "429 with Retry-After", Fault: googlesandbox.TooManyRequestsFault(3, 1, "/drive/v3/"), Want: connectors.ErrRateLimited, WantRetryAfter: 3 * time.Second},
		),
		Webhooks:     hooks,
		BodyUnsigned: true, // the channel token covers no body (and Google sends none)
		WrongSecret:  provider(t, h.sb, h.url, "another-secret", nil),
		NoSecret:     provider(t, h.sb, h.url, "", nil),
	}
}

// pushCases opens a real changes.watch channel on a sandbox and captures
// what it pushes: the "sync" after the watch and a "change".
func pushCases(t testing.TB) []connectortest.WebhookCase {
	captured := make(chan http.Header, 8)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		require.Empty(t, body, "Drive push notifications have no body")
		captured <- r.Header.Clone()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(recv.Close)
	h := newHarness(t, drivesandbox.Options{Seed: true}, pressConfig, nil)
	chans, err := h.prov.Connector.(connectors.Watcher).Watch(context.Background(), connectors.WatchRequest{
		Connection: h.conn, HTTP: h.client(), CallbackURL: recv.URL, Targets: []string{googledrive.MyDriveRef}, Now: time.Now(),
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
	_, _, err = h.sb.CreateFile(context.Background(), drivesandbox.FileInput{Name: "Pitch", Parent: drivesandbox.PressFolderID}, sandbox.DeliveryOptions{})
	require.NoError(t, err)
	changeReq := next()
	return []connectortest.WebhookCase{
		{Name: "sync", Request: syncReq, WantNotify: false},
		{Name: "change", Request: changeReq, WantNotify: true},
	}
}
