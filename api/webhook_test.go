package api_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/api"
	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/connectors/zoho"
)

// TestWebhookHandshakesAreListed: a provider's handshake is answered as
// the provider expects (Slack's url_verification with its challenge,
// Zoho Mail's with {}), and receiveWebhook's 200 documents that answer.
// Its schema, WebhookAck, required status, signals and connections,
// which neither carries, and called url_verification `ignored`.
func TestWebhookHandshakesAreListed(t *testing.T) {
	t.Parallel()
	env := map[string]string{"POBLYSH_SLACK_WEBHOOK_SECRET": "slack-signing-secret", "POBLYSH_ZOHO_MAIL_WEBHOOK_SECRET": "zoho-mail-secret"}
	reg, err := connectors.Build(connectors.Registered(), func(k string) string { return env[k] }, "http://127.0.0.1:1", false)
	require.NoError(t, err)
	e := setup(t, func(d *api.Deps) { d.Registry = reg })
	ops := loadOps(t)

	body := `{"token":"x","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}`
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	mac := hmac.New(sha256.New, []byte("slack-signing-secret"))
	mac.Write([]byte("v0:" + ts + ":" + body))
	r := e.do(http.MethodPost, "/api/v1/webhooks/slack", "", "application/json", body,
		"X-Slack-Request-Timestamp", ts, "X-Slack-Signature", "v0="+hex.EncodeToString(mac.Sum(nil)))
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	require.JSONEq(t, `{"challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}`, string(r.body), "Slack reads the challenge back")
	ops.requireListed(t, "receiveWebhook", r)

	tok := zoho.HookToken("zoho-mail-secret", "zoho-mail", uuid.NewString(), "60040386526", "")
	r = e.do(http.MethodPost, "/api/v1/webhooks/zoho-mail?"+zoho.TokenParam+"="+url.QueryEscape(tok), "", "application/json", `{}`,
		"X-Hook-Secret", "zoho-hands-this-out")
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	require.JSONEq(t, `{}`, string(r.body))
	ops.requireListed(t, "receiveWebhook", r)
}
