package zohomail

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

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
