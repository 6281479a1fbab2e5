package gmail_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/connectors/gmail"
	gmailsandbox "github.com/poblysh/poblysh/sandbox/gmail"
)

// TestVerifyPush: a genuine push verifies; every forgery a verifier must
// catch is refused as unauthorized.
func TestVerifyPush(t *testing.T) {
	h := newHarness(t, gmailsandbox.Options{Seed: true}, `{}`, nil)
	recv := h.prov.Connector.(connectors.WebhookReceiver)
	request := func(o gmailsandbox.PushOptions) *connectors.WebhookRequest {
		d := h.sb.Envelope(h.sb.User(), 400123, pushURL, o)
		return &connectors.WebhookRequest{Header: d.Header, Body: d.Body, Now: time.Now()}
	}
	good := request(gmailsandbox.PushOptions{})
	require.NoError(t, recv.VerifyWebhook(good))
	d, err := recv.ParseWebhook(good)
	require.NoError(t, err)
	require.Equal(t, []string{"mailbox:ada@example.com"}, d.RouteKeys)
	require.True(t, d.Notify)
	require.Regexp(t, `^\d{16}$`, d.DeliveryID, "keyed by the Pub/Sub message id")

	for name, c := range map[string]struct {
		o      gmailsandbox.PushOptions
		reason string
	}{
		"wrong audience":   {gmailsandbox.PushOptions{Audience: "https://attacker.example/push"}, "issued for another audience"},
		"wrong signer":     {gmailsandbox.PushOptions{ForeignSigner: true}, "the signature does not verify"},
		"expired":          {gmailsandbox.PushOptions{Expired: true}, "expired"},
		"unverified email": {gmailsandbox.PushOptions{Unverified: true}, "email is not verified"},
		"another account":  {gmailsandbox.PushOptions{Email: "someone@attacker-project.iam.gserviceaccount.com"}, "another service account"},
	} {
		t.Run(name, func(t *testing.T) {
			err := recv.VerifyWebhook(request(c.o))
			require.ErrorIs(t, err, connectors.ErrUnauthorized)
			require.Contains(t, err.Error(), c.reason)
		})
	}
	t.Run("no token", func(t *testing.T) {
		r := request(gmailsandbox.PushOptions{})
		r.Header.Del("Authorization")
		require.ErrorIs(t, recv.VerifyWebhook(r), connectors.ErrUnauthorized)
	})
	t.Run("a token of another scheme", func(t *testing.T) {
		r := request(gmailsandbox.PushOptions{})
		r.Header.Set("Authorization", "Basic "+r.Header.Get("Authorization")[7:])
		require.ErrorIs(t, recv.VerifyWebhook(r), connectors.ErrUnauthorized)
	})
	t.Run("a tampered token", func(t *testing.T) {
		r := request(gmailsandbox.PushOptions{})
		r.Header.Set("Authorization", r.Header.Get("Authorization")+"x")
		require.ErrorIs(t, recv.VerifyWebhook(r), connectors.ErrUnauthorized)
	})
	t.Run("an audience set explicitly", func(t *testing.T) {
		p := provider(t, h.sb, h.url, map[string]string{"PUSH_AUDIENCE": "poblysh-gmail-push"})
		require.ErrorIs(t, p.Connector.(connectors.WebhookReceiver).VerifyWebhook(good), connectors.ErrUnauthorized, "the default audience no longer does")
		d := h.sb.Envelope(h.sb.User(), 1, pushURL, gmailsandbox.PushOptions{Audience: "poblysh-gmail-push"})
		require.NoError(t, p.Connector.(connectors.WebhookReceiver).VerifyWebhook(&connectors.WebhookRequest{Header: d.Header, Body: d.Body}))
	})
	t.Run("keys that cannot be fetched", func(t *testing.T) {
		down := httptest.NewServer(http.NotFoundHandler())
		down.Close()
		p := provider(t, h.sb, h.url, map[string]string{"PUSH_JWKS_URL": down.URL + "/certs"})
		require.ErrorIs(t, p.Connector.(connectors.WebhookReceiver).VerifyWebhook(good), connectors.ErrUnauthorized)
	})
	t.Run("a webhook secret: the push URL must carry it", func(t *testing.T) {
		p := provider(t, h.sb, h.url, map[string]string{"WEBHOOK_SECRET": "s3cret token"})
		recv := p.Connector.(connectors.WebhookReceiver)
		aud := pushURL + "?token=s3cret+token"
		d := h.sb.Envelope(h.sb.User(), 1, aud, gmailsandbox.PushOptions{})
		ok := &connectors.WebhookRequest{Header: d.Header, Body: d.Body, Query: url.Values{"token": {"s3cret token"}}}
		require.NoError(t, recv.VerifyWebhook(ok), "the default audience is the push URL, token included")
		for name, q := range map[string]url.Values{"no token": nil, "another token": {"token": {"guess"}}} {
			r := *ok
			r.Query = q
			require.ErrorIs(t, recv.VerifyWebhook(&r), connectors.ErrUnauthorized, name)
		}
		err := recv.VerifyWebhook(&connectors.WebhookRequest{Header: good.Header, Body: good.Body, Query: ok.Query})
		require.ErrorIs(t, err, connectors.ErrUnauthorized, "a token for the URL without the secret has another audience")
		require.Contains(t, err.Error(), "issued for another audience")
		require.NotContains(t, err.Error(), "s3cret", "the reason is logged: it never quotes the expected audience")
	})
	t.Run("a webhook secret pasted unescaped into the endpoint", func(t *testing.T) {
		// A base64 secret as an operator pastes it: Pub/Sub's audience is
		// the endpoint byte for byte, and the query reads '+' back as a
		// space. Both still prove the secret; another secret does not.
		const secret = "ab+/cd=="
		p := provider(t, h.sb, h.url, map[string]string{"WEBHOOK_SECRET": secret})
		recv := p.Connector.(connectors.WebhookReceiver)
		for _, aud := range []string{pushURL + "?token=" + secret, pushURL + "?token=" + url.QueryEscape(secret)} {
			d := h.sb.Envelope(h.sb.User(), 1, aud, gmailsandbox.PushOptions{})
			q, err := url.ParseQuery("token=" + strings.TrimPrefix(aud, pushURL+"?token="))
			require.NoError(t, err)
			require.NoError(t, recv.VerifyWebhook(&connectors.WebhookRequest{Header: d.Header, Body: d.Body, Query: q}), aud)
		}
		d := h.sb.Envelope(h.sb.User(), 1, pushURL+"?token=ab+/cd=x", gmailsandbox.PushOptions{})
		err := recv.VerifyWebhook(&connectors.WebhookRequest{Header: d.Header, Body: d.Body, Query: url.Values{"token": {"ab /cd=x"}}})
		require.ErrorIs(t, err, connectors.ErrUnauthorized)
	})
	t.Run("fails closed without a service account", func(t *testing.T) {
		p := provider(t, h.sb, h.url, map[string]string{"PUSH_SERVICE_ACCOUNT": ""})
		require.ErrorIs(t, p.Connector.(connectors.WebhookReceiver).VerifyWebhook(good), connectors.ErrUnauthorized)
	})
}

// TestForgedPushesDoNotRefetchKeys: pushes are unauthenticated until
// verified, and without a webhook secret the token is the only proof. A
// flood of forged tokens (a key id the JWKS does not publish, or the
// published key id with a signature it does not verify) costs at most one
// download of the keys, and a genuine push after them still verifies from
// the cached keys.
func TestForgedPushesDoNotRefetchKeys(t *testing.T) {
	h := newHarness(t, gmailsandbox.Options{Seed: true}, `{}`, nil)
	var fetches atomic.Int64
	target, err := url.Parse(h.url)
	require.NoError(t, err)
	proxy := httputil.NewSingleHostReverseProxy(target)
	certs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(certs.Close)
	recv := provider(t, h.sb, h.url, map[string]string{"PUSH_JWKS_URL": certs.URL + "/oauth2/v3/certs"}).Connector.(connectors.WebhookReceiver)

	b64 := func(v any) string {
		b, err := json.Marshal(v)
		require.NoError(t, err)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	unknownKey := b64(map[string]string{"alg": "RS256", "kid": "not-published", "typ": "JWT"}) + "." +
		b64(map[string]any{"iss": "https://accounts.google.com", "aud": pushURL, "email": h.sb.Env(h.url)["POBLYSH_GMAIL_PUSH_SERVICE_ACCOUNT"],
			"email_verified": true, "iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()}) + "." +
		base64.RawURLEncoding.EncodeToString([]byte("not a signature"))
	foreign := h.sb.Envelope(h.sb.User(), 1, pushURL, gmailsandbox.PushOptions{ForeignSigner: true})
	body := []byte(`{}`)
	for i := 0; i < 20; i++ {
		for name, header := range map[string]http.Header{
			"a key id the JWKS does not publish":   {"Authorization": {"Bearer " + unknownKey}},
			"the published key id, another signer": foreign.Header,
		} {
			err := recv.VerifyWebhook(&connectors.WebhookRequest{Header: header, Body: body, Now: time.Now()})
			require.ErrorIs(t, err, connectors.ErrUnauthorized, name)
			require.Contains(t, err.Error(), "the signature does not verify", name)
		}
	}
	require.EqualValues(t, 1, fetches.Load(), "40 forged pushes download the keys once")

	good := h.sb.Envelope(h.sb.User(), 2, pushURL, gmailsandbox.PushOptions{})
	require.NoError(t, recv.VerifyWebhook(&connectors.WebhookRequest{Header: good.Header, Body: good.Body, Now: time.Now()}))
	require.EqualValues(t, 1, fetches.Load(), "a token signed by a cached key needs no download")
}

func TestParsePush(t *testing.T) {
	h := newHarness(t, gmailsandbox.Options{}, `{}`, nil)
	recv := h.prov.Connector.(connectors.WebhookReceiver)
	parse := func(body string) (*connectors.WebhookDelivery, error) {
		return recv.ParseWebhook(&connectors.WebhookRequest{Body: []byte(body)})
	}
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	// historyId as a number (what Gmail sends) and as a string (what its
	// docs show); message_id alone (Pub/Sub's protobuf field name).
	for _, data := range []string{`{"emailAddress":"Ada@Example.com","historyId":9876543210}`, `{"emailAddress":"ada@example.com","historyId":"9876543210"}`} {
		d, err := parse(`{"message":{"data":"` + b64(data) + `","message_id":"136969346945"},"subscription":"projects/p/subscriptions/s"}`)
		require.NoError(t, err, data)
		require.Equal(t, &connectors.WebhookDelivery{DeliveryID: "136969346945", Event: "gmail.push", RouteKeys: []string{"mailbox:ada@example.com"}, Notify: true}, d)
	}
	sd := h.sb.Envelope(h.sb.User(), 77, pushURL, gmailsandbox.PushOptions{HistoryIDAsString: true, MessageID: "5"})
	d, err := recv.ParseWebhook(&connectors.WebhookRequest{Header: sd.Header, Body: sd.Body})
	require.NoError(t, err)
	require.Equal(t, "5", d.DeliveryID)
	for name, body := range map[string]string{
		"not JSON":        `nope`,
		"no message id":   `{"message":{"data":"` + b64(`{"emailAddress":"a@b.c","historyId":1}`) + `"}}`,
		"data not base64": `{"message":{"data":"%%%","messageId":"1"}}`,
		"data not JSON":   `{"message":{"data":"` + b64(`hello`) + `","messageId":"1"}}`,
		"no mailbox":      `{"message":{"data":"` + b64(`{"historyId":1}`) + `","messageId":"1"}}`,
		"bad history id":  `{"message":{"data":"` + b64(`{"emailAddress":"a@b.c","historyId":"x"}`) + `","messageId":"1"}}`,
	} {
		_, err := parse(body)
		require.Error(t, err, name)
	}
}

// TestPlusSecretRefusesAnotherTokenWithAnExplicitAudience: with
// PUSH_AUDIENCE set, the audience no longer carries the URL token, so the
// token's own comparison is the only proof of the secret: a secret holding
// '+' (read back as ' ' when pasted unescaped) is accepted in that form,
// and another token is refused.
func TestPlusSecretRefusesAnotherTokenWithAnExplicitAudience(t *testing.T) {
	t.Parallel()
	h := newHarness(t, gmailsandbox.Options{Seed: true}, `{}`, nil)
	p := provider(t, h.sb, h.url, map[string]string{"WEBHOOK_SECRET": "ab+/cd==", "PUSH_AUDIENCE": "poblysh-gmail-push"})
	recv := p.Connector.(connectors.WebhookReceiver)
	d := h.sb.Envelope(h.sb.User(), 1, pushURL, gmailsandbox.PushOptions{Audience: "poblysh-gmail-push"})
	require.NoError(t, recv.VerifyWebhook(&connectors.WebhookRequest{Header: d.Header, Body: d.Body, Query: url.Values{"token": {"ab /cd=="}}}))
	err := recv.VerifyWebhook(&connectors.WebhookRequest{Header: d.Header, Body: d.Body, Query: url.Values{"token": {"guess"}}})
	require.ErrorIs(t, err, connectors.ErrUnauthorized)
}

// TestSharedGoogleSecretIsNotGmails: the operator sets the shared
// POBLYSH_GOOGLE_WEBHOOK_SECRET for Calendar and Drive and follows the
// guide for Gmail without POBLYSH_GMAIL_WEBHOOK_SECRET: the subscription
// posts to the plain push URL. Gmail does not take the shared secret for
// its own (it read it, so every genuine push was refused 401 for a URL
// token it never carried), and the service starts (the start's notice is
// TestLoadConfigNoFallback's and TestConfigSharedSecretNotGmails').
func TestSharedGoogleSecretIsNotGmails(t *testing.T) {
	sb := gmailsandbox.New(gmailsandbox.Options{Seed: true})
	srv := httptest.NewServer(sb)
	defer srv.Close()
	env := sb.Env(srv.URL)
	delete(env, "POBLYSH_GMAIL_WEBHOOK_SECRET")
	env["POBLYSH_GOOGLE_WEBHOOK_SECRET"] = "calendar-and-drive-channel-secret"
	load := func() connectors.WebhookReceiver {
		cfg, err := connectors.LoadConfig(gmail.Spec, func(k string) string { return env[k] }, "https://poblysh.example", true)
		require.NoError(t, err)
		c, err := gmail.Spec.New(cfg)
		require.NoError(t, err)
		return c.(connectors.WebhookReceiver)
	}
	d := sb.Envelope(sb.User(), 400123, "https://poblysh.example/api/v1/webhooks/gmail", gmailsandbox.PushOptions{})
	require.NoError(t, load().VerifyWebhook(&connectors.WebhookRequest{Header: d.Header, Body: d.Body, Now: time.Now()}),
		"a genuine push to the documented URL, no Gmail secret set")

	// Gmail's own secret still binds the push URL, and the shared one is
	// not a second.
	env["POBLYSH_GMAIL_WEBHOOK_SECRET"] = "gmail-own"
	recv := load()
	d = sb.Envelope(sb.User(), 400124, "https://poblysh.example/api/v1/webhooks/gmail?token=gmail-own", gmailsandbox.PushOptions{})
	req := &connectors.WebhookRequest{Header: d.Header, Body: d.Body, Now: time.Now(), Query: url.Values{"token": {"gmail-own"}}}
	require.NoError(t, recv.VerifyWebhook(req))
	req.Query = url.Values{"token": {"calendar-and-drive-channel-secret"}}
	require.ErrorIs(t, recv.VerifyWebhook(req), connectors.ErrUnauthorized)
}
