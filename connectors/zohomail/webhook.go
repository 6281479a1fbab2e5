package zohomail

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/connectors/zoho"
)

// Zoho Mail's outgoing webhooks (Settings → Integrations → Developer Space →
// Outgoing Webhooks, https://www.zoho.com/mail/help/dev-platform/webhook.html)
// are set up by hand per mailbox, fire for incoming mail only, and have no
// API. Zoho's help documents no signature; a third-party integrator reports
// an Asana-like handshake (X-Hook-Secret on the first request) and an
// X-Hook-Signature HMAC on later ones, keyed with a secret Zoho hands out
// per hook, which the service would have to store per mailbox. So a
// delivery is authenticated by what the service controls: the unguessable
// per-connection token of its URL (HMAC of tenant and account with
// POBLYSH_ZOHO_MAIL_WEBHOOK_SECRET), refused without it. And it is only
// ever a nudge: nothing of its body is stored as a Signal; the connection
// polls its own mailbox with its own token right away, so a forged nudge
// could at most cause an early poll.

// VerifyWebhook implements connectors.WebhookReceiver: the URL token must
// be a connection's (fails closed without a webhook secret).
func (c *Connector) VerifyWebhook(req *connectors.WebhookRequest) error {
	if c.cfg.WebhookSecret == "" {
		return fmt.Errorf("zoho-mail: webhook: %w: no webhook secret configured (POBLYSH_ZOHO_MAIL_WEBHOOK_SECRET)", connectors.ErrUnauthorized)
	}
	if _, _, ok := zoho.CheckHookToken(c.cfg.WebhookSecret, Name, req.Query.Get(zoho.TokenParam), ""); !ok {
		return fmt.Errorf("zoho-mail: webhook: %w: the URL token is missing or is not a connection's", connectors.ErrUnauthorized)
	}
	return nil
}

// ParseWebhook implements connectors.WebhookReceiver: a handshake (a
// request carrying X-Hook-Secret) is acknowledged and stores nothing; any
// other delivery nudges the token's connection to poll now.
func (c *Connector) ParseWebhook(req *connectors.WebhookRequest) (*connectors.WebhookDelivery, error) {
	tenant, account, ok := zoho.ParseHookToken(req.Query.Get(zoho.TokenParam))
	if !ok {
		return nil, fmt.Errorf("zoho-mail: webhook: %w: no connection token", connectors.ErrInvalidConfig)
	}
	sum := sha256.Sum256(req.Body)
	if req.Header.Get("X-Hook-Secret") != "" {
		return &connectors.WebhookDelivery{
			DeliveryID: "mail:handshake:" + tenant + ":" + account + ":" + hex.EncodeToString(sum[:8]),
			Event:      "handshake",
			Reply:      &connectors.WebhookReply{Status: http.StatusOK, ContentType: "application/json", Body: []byte(`{}`)},
		}, nil
	}
	var body struct {
		MessageID zoho.Str `json:"messageId"`
	}
	_ = json.Unmarshal(req.Body, &body)
	about := body.MessageID.String()
	if about == "" {
		about = hex.EncodeToString(sum[:12])
	}
	return &connectors.WebhookDelivery{
		DeliveryID: "mail:" + tenant + ":" + account + ":" + about,
		Event:      "incoming_mail",
		RouteKeys:  []string{mailboxKey(tenant, account)},
		Notify:     true,
	}, nil
}
