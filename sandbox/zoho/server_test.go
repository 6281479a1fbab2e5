package zohosandbox_test

import (
	"crypto/sha256"
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

	"github.com/poblysh/poblysh/sandbox"
	zohosandbox "github.com/poblysh/poblysh/sandbox/zoho"
)

// Both products are registered fakes with the uniform options, each
// pointing only its own product at itself.
func TestRegistered(t *testing.T) {
	t.Parallel()
	for _, product := range []string{zohosandbox.ProductCliq, zohosandbox.ProductMail} {
		f, err := sandbox.New(product, sandbox.Options{Seed: true, WebhookSecret: "s", Faults: []string{"short-locks"}})
		require.NoError(t, err)
		env := f.Env("http://127.0.0.1:9")
		prefix := map[string]string{zohosandbox.ProductCliq: "POBLYSH_ZOHO_CLIQ_", zohosandbox.ProductMail: "POBLYSH_ZOHO_MAIL_"}[product]
		for k := range env {
			require.True(t, strings.HasPrefix(k, prefix), "%s sets %s", product, k)
		}
		require.Equal(t, "s", env[prefix+"WEBHOOK_SECRET"])
		require.Contains(t, env[prefix+"ACCOUNTS_SERVERS"], "eu=http://127.0.0.1:9/eu/accounts")
		_, err = sandbox.New(product, sandbox.Options{Faults: []string{"nope"}})
		require.Error(t, err)
	}
	f, _ := sandbox.New(zohosandbox.ProductCliq, sandbox.Options{Faults: []string{"short-locks"}})
	require.Equal(t, "2s", f.Env("http://x")["POBLYSH_ZOHO_CLIQ_LOCK_PERIOD"])
}

// Past its threshold an API locks for the lock period, and a call during
// the lock starts the lock again, as Zoho is reported to do.
func TestThrottleLocksAndExtends(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	sb := zohosandbox.New(zohosandbox.Options{Seed: true, Now: func() time.Time { return now }, Thresholds: map[string]int{"messages": 2}})
	srv := httptest.NewServer(sb)
	t.Cleanup(srv.Close)
	tok := token(t, srv.URL, sb)
	get := func() int {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/eu/cliq/api/v2/chats/"+zohosandbox.ChatLaunch+"/messages", nil)
		req.Header.Set("Authorization", "Zoho-oauthtoken "+tok)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusBadRequest {
			require.Contains(t, string(body), "request_limit_exceeded")
		}
		return resp.StatusCode
	}
	require.Equal(t, 200, get())
	require.Equal(t, 200, get())
	require.Equal(t, 400, get(), "the third call in a minute locks")
	now = now.Add(9 * time.Minute)
	require.Equal(t, 400, get(), "still locked, and this call starts the lock again")
	now = now.Add(9 * time.Minute)
	require.Equal(t, 400, get(), "18 minutes after the lock began: extended by the call at 9")
	now = now.Add(11 * time.Minute)
	require.Equal(t, 200, get())
	locks, during := sb.ThrottleStats()
	require.Equal(t, 1, locks)
	require.Equal(t, 2, during)
}

// A message's reactions are answered in the form Zoho documents (its Cliq
// OpenAPI messages.yml, get-reactions): emoji to strings
// "timestamp:user_id:username", pattern ^\d+:\d+:.+$, in reaction order.
func TestReactionsInZohoForm(t *testing.T) {
	t.Parallel()
	now := time.UnixMilli(1_800_000_000_123)
	sb := zohosandbox.New(zohosandbox.Options{Seed: true, Now: func() time.Time { return now }})
	srv := httptest.NewServer(sb)
	t.Cleanup(srv.Close)
	tok := token(t, srv.URL, sb)
	_, m, err := sb.Post(zohosandbox.MessageInput{Chat: zohosandbox.ChatLaunch, User: zohosandbox.UserPriya, Text: "We're live!"})
	require.NoError(t, err)
	_, _, err = sb.React(zohosandbox.ChatLaunch, m.ID, zohosandbox.UserAda, "🚀")
	require.NoError(t, err)
	now = now.Add(time.Second)
	_, _, err = sb.React(zohosandbox.ChatLaunch, m.ID, zohosandbox.UserMarco, "🚀")
	require.NoError(t, err)
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/eu/cliq/api/v2/chats/"+zohosandbox.ChatLaunch+"/messages?limit=1", nil)
	req.Header.Set("Authorization", "Zoho-oauthtoken "+tok)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var ans struct {
		Data []struct {
			ID        string          `json:"id"`
			Reactions json.RawMessage `json:"reactions"`
		} `json:"data"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&ans))
	require.Len(t, ans.Data, 1)
	require.Equal(t, m.ID, ans.Data[0].ID)
	var rs map[string][]string
	require.NoError(t, json.Unmarshal(ans.Data[0].Reactions, &rs))
	require.Equal(t, map[string][]string{"🚀": {
		"1800000000123:" + zohosandbox.UserAda + ":Ada Lovelace",
		"1800000001123:" + zohosandbox.UserMarco + ":Marco Rossi",
	}}, rs)
	for _, r := range rs["🚀"] {
		require.Regexp(t, `^\d+:\d+:.+$`, r)
	}
}

// Mail answers carry Zoho's types: strings for numbers and booleans, ids
// beyond 2^53 as JSON numbers, escaped addresses, "Not Provided".
func TestMailWireTypes(t *testing.T) {
	t.Parallel()
	sb := zohosandbox.ForProduct(zohosandbox.ProductMail, zohosandbox.Options{Seed: true})
	srv := httptest.NewServer(sb)
	t.Cleanup(srv.Close)
	tok := token(t, srv.URL, sb)
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/eu/mail/api/accounts/7325431000000008002/folders", nil)
	req.Header.Set("Authorization", "Zoho-oauthtoken "+tok)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	var folders struct {
		Data []map[string]any `json:"data"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&folders))
	resp.Body.Close()
	inbox := ""
	for _, f := range folders.Data {
		if f["folderType"] == "Inbox" {
			inbox = f["folderId"].(string)
		}
	}
	require.NotEmpty(t, inbox)
	req, _ = http.NewRequest(http.MethodGet, srv.URL+"/eu/mail/api/accounts/7325431000000008002/messages/view?includeto=true&limit=200&folderId="+inbox, nil)
	req.Header.Set("Authorization", "Zoho-oauthtoken "+tok)
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var view struct {
		Data []map[string]json.RawMessage `json:"data"`
	}
	require.NoError(t, json.Unmarshal(raw, &view))
	require.Len(t, view.Data, 7)
	first := view.Data[0]
	require.Regexp(t, `^[0-9]{19}$`, string(first["messageId"]), "a JSON number beyond 2^53")
	require.Equal(t, `"false"`, string(first["hasInline"]))
	require.Equal(t, `"Not Provided"`, string(view.Data[1]["ccAddress"]))
	require.Contains(t, string(raw), `&quot;Ada Lovelace&quot;&lt;ada@zylker.eu&gt;`)
	// Another DC's token is unknown here.
	req, _ = http.NewRequest(http.MethodGet, srv.URL+"/us/mail/api/accounts", nil)
	req.Header.Set("Authorization", "Zoho-oauthtoken "+tok)
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
}

// Archived mail stays in its folder (archive-options.html) and
// messages/view lists it only with includearchive=true
// (get-emails-list.html); the control API archives a message by id.
func TestArchivedMailIsListedOnlyWhenAsked(t *testing.T) {
	t.Parallel()
	sb := zohosandbox.ForProduct(zohosandbox.ProductMail, zohosandbox.Options{Seed: true})
	srv := httptest.NewServer(sb)
	t.Cleanup(srv.Close)
	tok := token(t, srv.URL, sb)
	const acct, inbox = "7325431000000008002", "7325431000000008012" // Ada's mailbox and Inbox
	view := func(q string) []string {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/eu/mail/api/accounts/"+acct+"/messages/view?limit=200&folderId="+inbox+q, nil)
		req.Header.Set("Authorization", "Zoho-oauthtoken "+tok)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var ans struct {
			Data []struct {
				MessageID json.Number `json:"messageId"`
			} `json:"data"`
		}
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&ans))
		var ids []string
		for _, m := range ans.Data {
			ids = append(ids, m.MessageID.String())
		}
		return ids
	}
	all := view("")
	require.Len(t, all, 7)
	inquiry, ok := sb.MailID(zohosandbox.UserAda, zohosandbox.SeedInquirySubject)
	require.True(t, ok)
	require.Contains(t, all, inquiry)

	resp, err := http.Post(srv.URL+"/_sandbox/zoho/mail/archive", "application/json",
		strings.NewReader(`{"user":"`+zohosandbox.UserAda+`","message_id":"`+inquiry+`"}`))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	require.NotContains(t, view(""), inquiry, "archived mail is left out by default")
	require.Len(t, view("&includearchive=false"), 6)
	require.Equal(t, all, view("&includearchive=true"), "in its folder and place, with includearchive=true")

	resp, err = http.Post(srv.URL+"/_sandbox/zoho/mail/archive", "application/json", strings.NewReader(`{"message_id":"1"}`))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNotFound, resp.StatusCode, "no such message")
}

// token runs the authorization for the default (EU) user and returns an
// access token.
func token(t *testing.T, base string, sb *zohosandbox.Server) string {
	t.Helper()
	cb := authorizeWith(t, base, sb, nil)
	form := url.Values{"grant_type": {"authorization_code"}, "code": {cb.Get("code")}, "client_id": {sb.Options().ClientID},
		"client_secret": {sb.Options().ClientSecret}, "redirect_uri": {"http://cb.example/cb"}}
	resp, err := http.PostForm(cb.Get("accounts-server")+"/oauth/v2/token", form)
	require.NoError(t, err)
	defer resp.Body.Close()
	var ans struct {
		AccessToken string `json:"access_token"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&ans))
	require.NotEmpty(t, ans.AccessToken)
	return ans.AccessToken
}

// The token endpoint checks PKCE as Zoho's does for a server-based client
// that sent a challenge: the code is redeemed only with the verifier whose
// S256 hash is the challenge, at the accounts server of the user's DC; a
// missing or wrong verifier gets Zoho's refusal of a code, HTTP 200 with
// error invalid_code, and leaves the code unspent.
func TestTokenEndpointChecksPKCE(t *testing.T) {
	t.Parallel()
	sb := zohosandbox.New(zohosandbox.Options{Seed: true})
	srv := httptest.NewServer(sb)
	t.Cleanup(srv.Close)
	verifier := "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
	sum := sha256.Sum256([]byte(verifier))
	cb := authorizeWith(t, srv.URL, sb, url.Values{"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"}})
	redeem := func(v string) map[string]any {
		form := url.Values{"grant_type": {"authorization_code"}, "code": {cb.Get("code")}, "client_id": {sb.Options().ClientID},
			"client_secret": {sb.Options().ClientSecret}, "redirect_uri": {"http://cb.example/cb"}}
		if v != "" {
			form.Set("code_verifier", v)
		}
		resp, err := http.PostForm(cb.Get("accounts-server")+"/oauth/v2/token", form)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, "Zoho answers token errors with HTTP 200")
		ans := map[string]any{}
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&ans))
		return ans
	}
	require.Equal(t, map[string]any{"error": "invalid_code"}, redeem(""), "no verifier")
	require.Equal(t, map[string]any{"error": "invalid_code"}, redeem("another-verifier-another-verifier-another-ve"), "another connect's verifier")
	require.Empty(t, sb.IssuedTokens())
	ans := redeem(verifier)
	require.NotEmpty(t, ans["access_token"], ans)
	require.NotEmpty(t, ans["refresh_token"], ans)
	require.Equal(t, map[string]any{"error": "invalid_code"}, redeem(verifier), "a code is redeemed once")
}

// authorizeWith runs the authorization for the default (EU) user with the
// extra parameters and returns the callback's query.
func authorizeWith(t *testing.T, base string, sb *zohosandbox.Server, extra url.Values) url.Values {
	t.Helper()
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	q := url.Values{"client_id": {sb.Options().ClientID}, "redirect_uri": {"http://cb.example/cb"}, "scope": {"ZohoCliq.Messages.READ"},
		"response_type": {"code"}, "access_type": {"offline"}}
	for k, v := range extra {
		q[k] = v
	}
	resp, err := hc.Get(base + "/us/accounts/oauth/v2/auth?" + q.Encode())
	require.NoError(t, err)
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	require.NoError(t, err)
	require.Equal(t, "eu", loc.Query().Get("location"))
	return loc.Query()
}
