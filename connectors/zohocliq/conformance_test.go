package zohocliq

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/connectors/connectortest"
	"github.com/poblysh/poblysh/sandbox"
	zohosandbox "github.com/poblysh/poblysh/sandbox/zoho"
)

var (
	otherKeyOnce sync.Once
	otherKeyPEM  string
)

// otherKey is the PEM of a key no sandbox signs with.
func otherKey(t testing.TB) string {
	otherKeyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		require.NoError(t, err)
		der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
		require.NoError(t, err)
		otherKeyPEM = string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	})
	return otherKeyPEM
}

// cliqErrorCases are the mappings Cliq's wire format needs besides the
// usual statuses: a throttled call is HTTP 400 request_limit_exceeded (or
// 429 without Retry-After) and waits the lock period.
func cliqErrorCases() []connectortest.ErrorCase {
	limit := sandbox.Fault{Status: 400, Body: `{"code":"request_limit_exceeded","message":"You have exceeded the URL throttle limits."}`}
	return append(connectortest.DefaultErrorCases(),
		connectortest.ErrorCase{Name: "400_request_limit_exceeded", Fault: limit, Want: connectors.ErrRateLimited, WantRetryAfter: time.Microsecond},
		connectortest.ErrorCase{Name: "429_without_retry_after", Fault: sandbox.Fault{Status: 429}, Want: connectors.ErrRateLimited,
			WantRetryAfter: time.Microsecond},
		connectortest.ErrorCase{Name: "400_other", Fault: sandbox.Fault{Status: 400, Body: `{"code":"invalid_parameters","message":"bad"}`},
			Want: connectors.ErrInvalidConfig},
	)
}

// webhookCases are signed bot calls from a throwaway sandbox (the signing
// key is shared), sent to conn's bot URL.
func webhookCases(t testing.TB, conn connectors.Connection, c *Connector) []connectortest.WebhookCase {
	u, err := url.Parse(c.ConnectionWebhookURL(conn))
	require.NoError(t, err)
	require.NotEmpty(t, u.Query().Get("token"))
	sb := zohosandbox.New(zohosandbox.Options{Seed: true})
	ch, ok := sb.Channel(zohosandbox.ChatLaunch)
	require.True(t, ok)
	req := func(call zohosandbox.BotCall) *connectors.WebhookRequest {
		return &connectors.WebhookRequest{Header: call.Header, Body: call.Body, Query: u.Query(), Now: time.Now()}
	}
	_, msg, err := sb.Post(zohosandbox.MessageInput{Chat: zohosandbox.ChatLaunch, User: zohosandbox.UserPriya, Text: "Embargo moved to 10:00"})
	require.NoError(t, err)
	_, asBot, err := sb.Post(zohosandbox.MessageInput{Chat: zohosandbox.ChatLaunch, User: zohosandbox.BotID, Text: "Deploy finished"})
	require.NoError(t, err)
	_, ask, err := sb.Post(zohosandbox.MessageInput{Chat: zohosandbox.ChatLaunch, User: zohosandbox.UserMarco, Text: "status?", MentionBot: true})
	require.NoError(t, err)
	return []connectortest.WebhookCase{
		{Name: "message_sent", Request: req(sb.Call(zohosandbox.HandlerParticipation, "message_sent", ch, msg, msg.Sender)),
			WantKinds: []string{"message.posted"}},
		{Name: "mention_handler", Request: req(sb.Call(zohosandbox.HandlerMention, "", ch, ask, ask.Sender)),
			WantKinds: []string{"mention.created"}},
		{Name: "message_edited", Request: req(sb.Call(zohosandbox.HandlerParticipation, "message_edited", ch, msg, msg.Sender))},
		{Name: "message_deleted", Request: req(sb.Call(zohosandbox.HandlerParticipation, "message_deleted", ch, msg, msg.Sender))},
		{Name: "added", Request: req(sb.Call(zohosandbox.HandlerParticipation, "added", ch, nil, zohosandbox.UserPriya))},
		{Name: "removed", Request: req(sb.Call(zohosandbox.HandlerParticipation, "removed", ch, nil, zohosandbox.UserPriya))},
		{Name: "bot_message_ignored", Request: req(sb.Call(zohosandbox.HandlerParticipation, "message_sent", ch, asBot, asBot.Sender))},
		{Name: "direct_message", Request: req(sb.Call(zohosandbox.HandlerMessage, "", ch, msg, msg.Sender))},
	}
}

// TestConformance runs the suite on a connection in the EU data centre
// over two channels (by unique name) with mentions. Page size 3 makes every
// stream take several pages.
func TestConformance(t *testing.T) {
	t.Parallel()
	connectortest.Run(t, func(t *testing.T) *connectortest.Env {
		env := conformanceEnv(t)
		env.Examples = catalogExamples(t)
		return env
	})
}

// conformanceEnv is the connector against a fresh seeded sandbox (the
// fuzz targets share it).
func conformanceEnv(t testing.TB) *connectortest.Env {
	f := newFake(t, zohosandbox.Options{Seed: true}, fast(map[string]string{
		"POBLYSH_ZOHO_CLIQ_PAGE_SIZE": "3", "POBLYSH_ZOHO_CLIQ_LOCK_PERIOD": "1us",
	}))
	conn, tok := f.connect(t, "", adaConfig)
	require.Equal(t, "eu", conn.Account.Metadata["dc"])
	wrong := cloneEnv(f.env)
	wrong["POBLYSH_ZOHO_CLIQ_PUBLIC_KEY"] = otherKey(t)
	none := cloneEnv(f.env)
	none["POBLYSH_ZOHO_CLIQ_PUBLIC_KEY"] = ""
	return &connectortest.Env{
		Provider:    f.provider,
		Connection:  conn,
		AccessToken: tok.AccessToken,
		Expected:    zohosandbox.ExpectedCliq(),
		InjectFault: f.sb.Faults.Add,
		ErrorCases:  cliqErrorCases(),
		Webhooks:    webhookCases(t, conn, f.conn),
		WrongSecret: newProvider(t, wrong),
		NoSecret:    newProvider(t, none),
	}
}

func cloneEnv(env map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range env {
		out[k] = v
	}
	return out
}

// The suite's client paces calls like the engine's; a direct check that
// the Zoho-oauthtoken scheme reaches the API.
func TestAuthorizationScheme(t *testing.T) {
	t.Parallel()
	f := newFake(t, zohosandbox.Options{Seed: true}, fast(nil))
	_, tok := f.connect(t, "", adaConfig)
	require.Equal(t, "Zoho-oauthtoken "+tok.AccessToken, f.conn.AuthorizationHeader(tok.AccessToken))
	req, _ := http.NewRequest(http.MethodGet, f.srv.URL+"/eu/cliq/api/v2/channels?joined=true", nil)
	resp, err := f.client(tok.AccessToken).Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
}
