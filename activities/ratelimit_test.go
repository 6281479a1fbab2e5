package activities

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/metrics"
)

// limitedConnector is an OAuth provider whose error answers come as
// {"ok":false,"error":"ratelimited"} with HTTP 200, the way Slack's do.
type limitedConnector struct {
	spec     *connectors.Spec
	tokenURL string
}

func (c limitedConnector) Spec() *connectors.Spec { return c.spec }
func (c limitedConnector) OAuth2Config(redirectURL string) *oauth2.Config {
	return &oauth2.Config{ClientID: "id", ClientSecret: "secret", RedirectURL: redirectURL,
		Endpoint: oauth2.Endpoint{TokenURL: c.tokenURL, AuthStyle: oauth2.AuthStyleInParams}}
}
func (limitedConnector) AuthCodeOptions() []oauth2.AuthCodeOption { return nil }
func (limitedConnector) Identify(context.Context, *oauth2.Token, *http.Client) (connectors.Account, error) {
	return connectors.Account{}, nil
}

func (limitedConnector) ClassifyResponse(resp *http.Response) error {
	if resp.StatusCode != http.StatusOK {
		return connectors.ClassifyResponse(resp)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body = io.NopCloser(bytes.NewReader(b))
	if bytes.Contains(b, []byte(`"error":"ratelimited"`)) {
		return &connectors.RateLimited{Reason: "ratelimited"}
	}
	return nil
}

// poblysh_provider_rate_limited_total counts provider answers that asked
// the service to slow down, each once: an API call's (a 429, or a 200
// whose body says ratelimited) whether or not an activity's error
// translation sees it afterwards (a sync page does; a connect-time or API
// call does not), and a token endpoint's, at a refresh (translated) or a
// code exchange (not). Both used to count an activity's 429 twice.
func TestProviderRateLimitCountsOnce(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/body") {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"ok":false,"error":"ratelimited"}`))
			return
		}
		w.Header().Set("Retry-After", "3")
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	defer srv.Close()
	const name = "ratelimitonce"
	s := &connectors.Spec{Name: name}
	p := &connectors.Provider{Spec: s, Connector: limitedConnector{spec: s, tokenURL: srv.URL + "/token"}}
	a := &Activities{Registry: connectors.NewRegistry(p)}
	ref := poblysh.ConnectionRef{TenantID: "t", ConnectionID: "c", Provider: name}
	api := func(path string) error {
		_, err := a.Registry.HTTPClient(p, "acct", "tok").Get(srv.URL + path)
		return err
	}
	cases := []struct {
		name      string
		call      func() error
		translate bool
	}{
		{"a sync page's 429", func() error { return api("/api/items") }, true},
		{"a sync page's ratelimited body", func() error { return api("/api/body") }, true},
		{"a connect-time call's 429", func() error { return api("/api/me") }, false},
		{"a refresh's 429", func() error {
			_, err := a.Registry.Refresh(context.Background(), p, connectors.Account{}, "rt")
			return err
		}, true},
		{"a code exchange's 429", func() error {
			_, err := a.Registry.Exchange(context.Background(), p, connectors.ExchangeRequest{Code: "code", RedirectURL: "http://x/cb"})
			return err
		}, false},
	}
	count := func() float64 {
		var m dto.Metric
		require.NoError(t, metrics.RateLimitHits.WithLabelValues(name).Write(&m))
		return m.GetCounter().GetValue()
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := count()
			err := c.call()
			require.Equal(t, connectors.ErrRateLimited, connectors.Kind(err), "%v", err)
			if c.translate {
				require.Error(t, a.translate(context.Background(), ref, err))
			}
			require.Equal(t, before+1, count())
		})
	}
}
