package activities

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sirupsen/logrus"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/connectors/zoho"
	"github.com/poblysh/poblysh/connectors/zohocliq"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
	zohosandbox "github.com/poblysh/poblysh/sandbox/zoho"
)

// TestZohoRefreshPastAnAnswerThatIsNotZohosKeepsTheGrant: the first
// refresh_token grant of a Zoho Cliq connection is answered by something
// in front of Zoho's accounts server (a WAF's 403 page, a misrouted 404, a
// load balancer's 408), without Zoho's error field. That says nothing of
// the grant: the refresh is tried again and succeeds, and the connection
// stays healthy with its refresh token kept alive. Read as a refusal, the
// connection moved to needs_reauth and its refresh token was marked
// refused (out of the keep-alive sweep).
func TestZohoRefreshPastAnAnswerThatIsNotZohosKeepsTheGrant(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		status int
		body   string
	}{
		{http.StatusForbidden, "<html><body>Request blocked</body></html>"},
		{http.StatusNotFound, "<html><body>Not Found</body></html>"},
		{http.StatusRequestTimeout, ""},
	} {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			t.Parallel()
			sb := zohosandbox.New(zohosandbox.Options{})
			var grants atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if strings.HasSuffix(r.URL.Path, "/oauth/v2/token") && r.PostFormValue("grant_type") == "refresh_token" && grants.Add(1) == 1 {
					w.Header().Set("Content-Type", "text/html")
					w.WriteHeader(tc.status)
					_, _ = io.WriteString(w, tc.body)
					return
				}
				sb.ServeHTTP(w, r)
			}))
			t.Cleanup(srv.Close)
			e := newZohoRefreshEnv(t, sb, srv.URL)
			before := e.stored()

			res, err := e.acts.RefreshToken(context.Background(), RefreshTokenInput{ConnectionRef: e.target, Force: true})
			require.NoError(t, err, "HTTP %d without Zoho's error field is no refusal", tc.status)
			require.True(t, res.Refreshed)
			require.Equal(t, int32(2), grants.Load(), "the refresh was tried again")
			refreshes, _, _ := sb.Accounts("eu").Stats()
			require.Equal(t, 1, refreshes, "Zoho minted the new access token")
			after := e.stored()
			require.NotEqual(t, before.AccessToken, after.AccessToken)
			require.Equal(t, before.RefreshToken, after.RefreshToken, "the grant is kept")
			require.Equal(t, poblysh.HealthHealthy, e.health())
			require.False(t, e.refreshRefused(), "the refresh token stays in the keep-alive")
		})
	}
}

// newZohoRefreshEnv connects Ada (EU data centre) to Zoho Cliq at the
// sandbox served at base, as the callback does, and refreshes with the
// real activity.
func newZohoRefreshEnv(t *testing.T, sb *zohosandbox.Server, base string) *refreshEnv {
	t.Helper()
	ctx := context.Background()
	env := sb.Env(base)
	reg, err := connectors.Build([]*connectors.Spec{zohocliq.Spec}, func(k string) string { return env[k] }, "http://127.0.0.1:1", false)
	require.NoError(t, err)
	p, ok := reg.Get(zohocliq.Spec.Name)
	require.True(t, ok)

	const redirect = "http://127.0.0.1/cb"
	q := url.Values{"client_id": {sb.Options().ClientID}, "redirect_uri": {redirect}, "response_type": {"code"}, "login": {zohosandbox.UserAda}}
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Get(base + "/us/accounts/oauth/v2/auth?" + q.Encode())
	require.NoError(t, err)
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	require.NoError(t, err)
	cb := loc.Query()
	tok, err := reg.Exchange(ctx, p, connectors.ExchangeRequest{Code: cb.Get("code"), RedirectURL: redirect, Callback: cb})
	require.NoError(t, err)
	acct, err := json.Marshal(connectors.Account{ID: zohosandbox.UserAda, Metadata: zoho.Meta(tok)})
	require.NoError(t, err)

	e := &refreshEnv{t: t, schema: dbtest.NewSchema(t), logs: &lockedBuffer{}}
	log := logrus.New()
	log.SetOutput(e.logs)
	e.acts = &Activities{DB: e.schema.DB, Registry: reg, KeyRing: dbtest.KeyRing(t), Log: log}
	e.target.Provider = zohocliq.Spec.Name
	require.NoError(t, e.schema.DB.WithSystem(ctx, func(tx *db.Tx) error {
		tn, _, _, err := tx.CreateTenant(ctx, "zoho-refresh")
		e.target.TenantID = tn.ID
		return err
	}))
	require.NoError(t, e.schema.DB.WithTenant(ctx, e.target.TenantID, func(tx *db.Tx) error {
		c, _, err := tx.UpsertConnection(ctx, db.ConnectionUpsert{Provider: zohocliq.Spec.Name, ExternalAccountID: zohosandbox.UserAda, Account: acct})
		if err != nil {
			return err
		}
		e.target.ConnectionID = c.ID
		exp := tok.Expiry.UTC()
		return tx.SaveTokens(ctx, e.acts.KeyRing, c.ID, db.Tokens{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, TokenType: "Bearer", Expiry: &exp})
	}))
	return e
}
