package all_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/connectors/zoho"
)

// The secrets of TestProviderErrorsCarryNoSecrets: each distinct, with a
// "/" (Google's refresh tokens have two) so that an echo of the
// form-encoded request differs from the value.
const (
	markClientID     = "client-id-7"
	markClientSecret = "cLiEnT/sEcReT-Qw7Zp3Xk9Lm2"
	markDCSecret     = "dCsEcReT/uS-Hv5Rt8Ny1Bc4"
	markHookSecret   = "hOoK/sEcReT-Jd6Fs2Wq8Ve3"
	markAccess       = "aCcEsS/tOkEn-Gm4Kp9Tx2Lz7"
	markRefresh      = "1//rEfReSh-tOkEn-Yb3Nc8Mf5Ds1"
	markCode         = "cOdE/4/0Ar-Uk7Hq2Pe9Wr6"
	markVerifier     = "vErIfIeR-Zx1Cv4Bn7Mq0Ws3Ed6"
)

// echoAnswer is how the test server answers: each puts the request it got
// (Authorization header, URL with query, body) into every field a provider
// reads error text from, the way a proxy, a WAF or a careless provider
// might echo it.
type echoAnswer struct {
	name   string
	status int
	ctype  string
	body   func(echo string) string
}

// echoJSON is an error answer of every provider's shape at once.
func echoJSON(echo string) string {
	b, _ := json.Marshal(map[string]any{
		"ok": false, "error": echo, "error_description": echo, "error_uri": echo, "message": echo, "code": echo,
		"errorMessages": []string{echo}, "errors": []any{map[string]any{"message": echo, "reason": echo}},
		"data":   map[string]any{"errorCode": echo, "moreInfo": echo},
		"status": map[string]any{"code": 400, "description": echo},
	})
	return string(b)
}

var echoAnswers = []echoAnswer{
	{"400 JSON", 400, "application/json", echoJSON},
	{"401 JSON", 401, "application/json", echoJSON},
	{"403 JSON", 403, "application/json", echoJSON},
	{"404 JSON", 404, "application/json", echoJSON},
	{"429 JSON", 429, "application/json", echoJSON},
	{"500 JSON", 500, "application/json", echoJSON},
	{"200 JSON", 200, "application/json", echoJSON},
	{"200 HTML", 200, "text/html", func(echo string) string { return "<html><body>" + echo + "</body></html>" }},
	{"400 text", 400, "text/plain", func(echo string) string { return echo }},
	{"200 text", 200, "text/plain", func(echo string) string { return echo }},
	{"200 form", 200, "application/x-www-form-urlencoded", func(echo string) string {
		return url.Values{"error": {echo}, "error_description": {echo}}.Encode()
	}},
	{"connection closed", 0, "", nil},
}

// TestProviderErrorsCarryNoSecrets: whatever a provider (or a proxy in
// front of it) answers, the errors of every registered provider's code
// exchange, refresh, revocation and identification hold none of the
// secrets their request carried: not the client secret (nor a data
// centre's own), the code, the PKCE verifier, the refresh or access token,
// in any form (as sent, form-encoded, inside a Basic header) or cut short.
// These errors reach Temporal's failure messages, the connection's
// last_error, job errors, logs and the connect API's answer.
func TestProviderErrorsCarryNoSecrets(t *testing.T) {
	t.Parallel()
	answers := map[string]echoAnswer{}
	for _, a := range echoAnswers {
		answers[a.name] = a
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The answer is named by the first path segment of every URL the
		// test configures (srv.URL + "/<answer>/…").
		name, _ := url.PathUnescape(strings.SplitN(strings.TrimPrefix(r.URL.Path, "/"), "/", 2)[0])
		a, ok := answers[name]
		if !ok {
			http.Error(w, "no answer "+name, http.StatusTeapot)
			return
		}
		if a.body == nil {
			panic(http.ErrAbortHandler)
		}
		b, _ := io.ReadAll(r.Body)
		echo := r.Header.Get("Authorization") + " " + r.URL.String() + " " + string(b)
		w.Header().Set("Content-Type", a.ctype)
		w.WriteHeader(a.status)
		_, _ = io.WriteString(w, a.body(echo))
	}))
	t.Cleanup(srv.Close)

	secrets := []string{markClientSecret, markDCSecret, markHookSecret, markAccess, markRefresh, markCode, markVerifier}
	var forms []string
	for _, s := range secrets {
		forms = append(forms, s, url.QueryEscape(s))
	}
	for _, s := range []string{markClientSecret, markDCSecret} {
		forms = append(forms,
			base64.StdEncoding.EncodeToString([]byte(markClientID+":"+s)),
			base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(markClientID)+":"+url.QueryEscape(s))))
	}
	// leaked names the secret err's message holds whole or in part: any 8
	// characters of a secret in any of its forms.
	leaked := func(err error) string {
		msg := err.Error()
		for _, f := range forms {
			for i := 0; i+8 <= len(f); i++ {
				if strings.Contains(msg, f[i:i+8]) {
					return f
				}
			}
		}
		return ""
	}

	for _, a := range echoAnswers {
		base := srv.URL + "/" + url.PathEscape(a.name)
		env := func(k string) string {
			switch {
			case strings.HasSuffix(k, "_CLIENT_ID"):
				return markClientID
			case strings.HasSuffix(k, "_CLIENT_SECRET"):
				return markClientSecret
			case strings.HasSuffix(k, "_CLIENT_SECRET_US"):
				return markDCSecret
			case strings.HasSuffix(k, "_WEBHOOK_SECRET"):
				return markHookSecret
			case strings.HasSuffix(k, "_ACCOUNTS_SERVERS"), strings.HasSuffix(k, "_API_URLS") && k != "POBLYSH_ZOHO_API_URLS": // read per product only
				return "us=" + base
			case strings.HasSuffix(k, "_URL") && !strings.HasSuffix(k, "JWKS_URL"):
				return base + "/x"
			}
			return ""
		}
		reg, err := connectors.Build(connectors.Registered(), env, "https://connectors.example.com", true)
		require.NoError(t, err)
		acct := connectors.Account{ID: "acct", Metadata: map[string]string{
			zoho.MetaLocation: "us", zoho.MetaAccountsServer: base, "url": base, "cloud_id": "c1", "email": "a@example.com",
		}}
		for _, p := range reg.Providers() {
			t.Run(a.name+"/"+p.Spec.Name, func(t *testing.T) {
				t.Parallel()
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				var failed int
				check := func(op string, err error) {
					if err == nil {
						return
					}
					failed++
					if s := leaked(err); s != "" {
						t.Errorf("%s: the error carries (part of) %q: %v", op, s, err)
					}
				}
				_, err := reg.Exchange(ctx, p, connectors.ExchangeRequest{
					Code: markCode, Verifier: markVerifier, RedirectURL: p.Config.CallbackURL(p.Spec.Name),
					Callback: url.Values{"code": {markCode}, "accounts-server": {base}, "location": {"us"}},
				})
				check("exchange", err)
				_, err = reg.Refresh(ctx, p, acct, markRefresh)
				check("refresh", err)
				_, err = reg.Revoke(ctx, p, acct, &oauth2.Token{AccessToken: markAccess, RefreshToken: markRefresh})
				check("revoke", err)
				if auth, ok := p.Connector.(connectors.Authorizer); ok {
					tok := (&oauth2.Token{AccessToken: markAccess, RefreshToken: markRefresh}).WithExtra(map[string]any{
						zoho.MetaLocation: "us", zoho.MetaAccountsServer: base, zoho.MetaAPIDomain: base,
					})
					_, err = auth.Identify(ctx, tok, reg.HTTPClient(p, "acct", markAccess))
					check("identify", err)
				}
				if a.status >= 400 || a.body == nil {
					require.NotZero(t, failed, "no call failed: the answer did not reach the provider's error paths")
				}
			})
		}
	}
}
