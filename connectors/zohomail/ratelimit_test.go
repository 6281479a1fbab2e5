package zohomail

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/connectors/zoho"
	"github.com/poblysh/poblysh/metrics"
)

// Zoho asks to slow down in a 200's body twice over: the Mail API's
// {"status":{"code":429}} and the token endpoint's "Access Denied … too
// many requests". No transport classifier sees either, and each is one
// count in poblysh_provider_rate_limited_total, as a 429 is. (Not
// parallel: the counter is the process's.)
func TestThrottleInABodyIsCountedOnce(t *testing.T) {
	count := func() float64 {
		var m dto.Metric
		require.NoError(t, metrics.RateLimitHits.WithLabelValues(Name).Write(&m))
		return m.GetCounter().GetValue()
	}

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = fmt.Fprint(w, `{"status":{"code":429,"description":"Too many requests"},"data":{"errorCode":"TOO_MANY_REQUESTS"}}`)
	}))
	t.Cleanup(srv.Close)
	api := &accountsAPI{p: newProvider(t, map[string]string{"POBLYSH_ZOHO_MAIL_API_URLS": "us=" + srv.URL})}
	api.c = api.p.Connector.(*Connector)
	before := count()
	_, err := api.identify(t.Context(), "200-with-429")
	require.Equal(t, connectors.ErrRateLimited, connectors.Kind(err), "%v", err)
	require.Equal(t, before+1, count(), "the Mail API's throttle in a 200's body")

	tokens := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"error":"Access Denied","error_description":"You have made too many requests continuously. Please try again after some time."}`))
	}))
	t.Cleanup(tokens.Close)
	cfg := connectors.Config{ClientID: "id", ClientSecret: "s"}.WithSettings(map[string]string{zoho.SettingAccountsServers: "us=" + tokens.URL})
	c, err := New(cfg)
	require.NoError(t, err)
	p := &connectors.Provider{Spec: c.Spec(), Connector: c}
	before = count()
	_, err = connectors.NewRegistry(p).Refresh(context.Background(), p,
		connectors.Account{ID: "1", Metadata: map[string]string{zoho.MetaLocation: "us", zoho.MetaAccountsServer: tokens.URL}}, "rt")
	require.Equal(t, connectors.ErrRateLimited, connectors.Kind(err), "%v", err)
	require.Equal(t, before+1, count(), "the token endpoint's throttle in a 200's body")
}

// A throttle in a 200's body is mapped like a 429: the account's Mail API
// is left alone for the 5-minute lock, in the process, so the next call
// fails fast without reaching Zoho, and is not counted again; another
// account is not held back. (Not parallel: the counter is the process's.)
func TestThrottleInABodyLocksTheAccount(t *testing.T) {
	count := func() float64 {
		var m dto.Metric
		require.NoError(t, metrics.RateLimitHits.WithLabelValues(Name).Write(&m))
		return m.GetCounter().GetValue()
	}
	var mu sync.Mutex
	hits := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits[strings.Split(r.URL.Path, "/")[3]]++ // /api/accounts/{id}/…
		mu.Unlock()
		switch {
		case strings.HasSuffix(r.URL.Path, "/folders"):
			_, _ = fmt.Fprint(w, `{"status":{"code":200},"data":[{"folderId":"10","folderType":"Inbox","path":"/Inbox"},{"folderId":"11","folderType":"Sent","path":"/Sent"}]}`)
		default:
			_, _ = fmt.Fprint(w, `{"status":{"code":429,"description":"Too many requests"},"data":{"errorCode":"TOO_MANY_REQUESTS"}}`)
		}
	}))
	t.Cleanup(srv.Close)
	p := newProvider(t, map[string]string{"POBLYSH_ZOHO_MAIL_API_URLS": "us=" + srv.URL, "POBLYSH_ZOHO_MAIL_PACE": "60000"})
	c := p.Connector.(*Connector)
	fetch := func(account, stream string) error {
		conn := connectors.Connection{TenantID: testTenant, Account: connectors.Account{ID: account, Metadata: map[string]string{"dc": "us"}}}
		_, err := c.FetchPage(t.Context(), connectors.PageRequest{Connection: conn, Stream: stream, HTTP: srv.Client(), Now: time.Now()})
		return err
	}
	before := count()
	err := fetch("1", streamInbox)
	require.Equal(t, connectors.ErrRateLimited, connectors.Kind(err), "%v", err)
	require.Equal(t, 2, hits["1"], "folders, then the throttled messages/view")

	err = fetch("1", streamSent)
	require.Equal(t, connectors.ErrRateLimited, connectors.Kind(err), "%v", err)
	var rl *connectors.RateLimited
	require.ErrorAs(t, err, &rl)
	require.Greater(t, rl.RetryAfter, 4*time.Minute, "the lock's time left")
	require.Equal(t, 2, hits["1"], "a call went to Zoho during the lock period")
	require.Equal(t, before+1, count(), "one throttle, counted once")

	require.Equal(t, connectors.ErrRateLimited, connectors.Kind(fetch("2", streamInbox)))
	require.Equal(t, 2, hits["2"], "another account's calls go out")
}
