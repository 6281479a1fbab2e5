package gmail

import (
	"context"
	"crypto/hmac"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/poblysh/poblysh/connectors"
)

// RouteKey is the route key of a mailbox's pushes: "mailbox:<address>".
func RouteKey(email string) string { return "mailbox:" + strings.ToLower(email) }

// pushClaims are the claims of a Pub/Sub push token the connector checks
// besides iss, aud and exp (which go-oidc checks).
type pushClaims struct {
	Email         string `json:"email"`
	EmailVerified any    `json:"email_verified"` // true, or "true" in some issuers
}

// VerifyWebhook authenticates a Pub/Sub push: Authorization carries an OIDC
// token that Google signs for the push subscription's service account. It
// is verified with go-oidc against the issuer's keys (JWKS, cached, and
// fetched again at most once a minute: see newPushKeys): the RS256
// signature, iss (https://accounts.google.com, or accounts.google.com
// which Google also writes), aud (the configured
// audience, by default the push URL), exp; then email must be the
// configured service account and email_verified true. With a webhook
// secret, the push URL must also carry it (?token=), compared in constant
// time: a second, independent proof. Without a configured service account
// every push is refused (fail closed). The token does not sign the body: a
// replayed token can only nudge a sync, which reads the mailbox with the
// connection's own grant.
// pushTokenMatches compares the push URL's token with the secret in
// constant time. An endpoint configured with the secret unescaped reads
// back each '+' as a space (query decoding), which is the same secret.
func pushTokenMatches(got, secret string) bool {
	ok := hmac.Equal([]byte(got), []byte(secret))
	if strings.Contains(secret, "+") {
		ok = hmac.Equal([]byte(got), []byte(strings.ReplaceAll(secret, "+", " "))) || ok
	}
	return ok
}

func (c *Connector) VerifyWebhook(req *connectors.WebhookRequest) error {
	switch {
	case c.serviceAccount == "":
		return fmt.Errorf("gmail: %w: POBLYSH_GMAIL_PUSH_SERVICE_ACCOUNT is not set", connectors.ErrUnauthorized)
	case c.audience == "":
		return fmt.Errorf("gmail: %w: no push audience (POBLYSH_GMAIL_PUSH_AUDIENCE or a public URL)", connectors.ErrUnauthorized)
	case c.Config.WebhookSecret != "" && !pushTokenMatches(req.Query.Get("token"), c.Config.WebhookSecret):
		return fmt.Errorf("gmail: %w: the push URL's token does not match", connectors.ErrUnauthorized)
	}
	raw := bearer(req.Header.Get("Authorization"))
	if raw == "" {
		return fmt.Errorf("gmail: %w: no bearer token", connectors.ErrUnauthorized)
	}
	now := req.Now
	if now.IsZero() {
		now = time.Now()
	}
	v := oidc.NewVerifier(c.issuer, c.keys, &oidc.Config{
		SkipClientIDCheck:    true, // one of two audiences, checked below
		SupportedSigningAlgs: []string{oidc.RS256},
		Now:                  func() time.Time { return now },
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tok, err := v.Verify(ctx, raw)
	if err != nil {
		return fmt.Errorf("gmail: %w: push token: %s", connectors.ErrUnauthorized, verifyReason(err))
	}
	if !slices.Contains(tok.Audience, c.audience) && (c.rawAudience == "" || !slices.Contains(tok.Audience, c.rawAudience)) {
		return fmt.Errorf("gmail: %w: push token: issued for another audience", connectors.ErrUnauthorized)
	}
	var cl pushClaims
	if err := tok.Claims(&cl); err != nil {
		return fmt.Errorf("gmail: %w: push token claims: %v", connectors.ErrUnauthorized, err)
	}
	if !strings.EqualFold(cl.Email, c.serviceAccount) {
		return fmt.Errorf("gmail: %w: push token is for another service account", connectors.ErrUnauthorized)
	}
	if v, ok := cl.EmailVerified.(bool); !ok || !v {
		if s, _ := cl.EmailVerified.(string); s != "true" {
			return fmt.Errorf("gmail: %w: push token's email is not verified", connectors.ErrUnauthorized)
		}
	}
	return nil
}

// verifyReason names why go-oidc refused a token without quoting it: its
// messages repeat the expected audience, which may carry the push URL's
// secret token, and this reason is logged.
func verifyReason(err error) string {
	var expired *oidc.TokenExpiredError
	msg := err.Error()
	switch {
	case errors.As(err, &expired):
		return "expired"
	case strings.Contains(msg, "audience"):
		return "issued for another audience"
	case strings.Contains(msg, "different provider"):
		return "issued by another issuer"
	case strings.Contains(msg, "signature"), strings.Contains(msg, "signing"):
		return "the signature does not verify against the issuer's keys"
	}
	return "malformed or unverifiable"
}

// bearer returns the token of an "Authorization: Bearer" value.
func bearer(h string) string {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
}

// envelope is a Pub/Sub push body. Pub/Sub writes message_id and
// publish_time too (the JSON names of the protobuf fields).
type envelope struct {
	Message struct {
		Data        string            `json:"data"`
		MessageID   string            `json:"messageId"`
		MessageID2  string            `json:"message_id"`
		PublishTime string            `json:"publishTime"`
		Attributes  map[string]string `json:"attributes"`
	} `json:"message"`
	Subscription string `json:"subscription"`
}

// notification is the decoded message.data of a Gmail push.
type notification struct {
	EmailAddress string          `json:"emailAddress"`
	HistoryID    json.RawMessage `json:"historyId"` // a number, or a string
}

// ParseWebhook decodes a verified push: message.data is base64 JSON
// {emailAddress, historyId} (historyId arrives as a number, though the
// docs show a string; both are accepted). The delivery is keyed by the
// Pub/Sub messageId (Pub/Sub delivers at least once), routed by the
// mailbox's address, and notifies: the engine runs a coalesced
// history.list pass of every label of the connection(s) of that mailbox.
func (c *Connector) ParseWebhook(req *connectors.WebhookRequest) (*connectors.WebhookDelivery, error) {
	var env envelope
	if err := json.Unmarshal(req.Body, &env); err != nil {
		return nil, fmt.Errorf("gmail: push body is not a Pub/Sub envelope: %v", err)
	}
	id := env.Message.MessageID
	if id == "" {
		id = env.Message.MessageID2
	}
	if id == "" {
		return nil, fmt.Errorf("gmail: push has no message.messageId")
	}
	data, err := base64.StdEncoding.DecodeString(env.Message.Data)
	if err != nil {
		if data, err = base64.URLEncoding.DecodeString(env.Message.Data); err != nil {
			return nil, fmt.Errorf("gmail: push message.data is not base64")
		}
	}
	var n notification
	if err := json.Unmarshal(data, &n); err != nil {
		return nil, fmt.Errorf("gmail: push message.data is not {emailAddress, historyId}: %v", err)
	}
	if !strings.Contains(n.EmailAddress, "@") {
		return nil, fmt.Errorf("gmail: push names no mailbox")
	}
	if _, err := historyID(n.HistoryID); err != nil {
		return nil, err
	}
	return &connectors.WebhookDelivery{
		DeliveryID: id,
		Event:      "gmail.push",
		RouteKeys:  []string{RouteKey(n.EmailAddress)},
		Notify:     true,
	}, nil
}

// historyID reads a history id sent as a JSON number or string.
func historyID(raw json.RawMessage) (uint64, error) {
	s := strings.Trim(strings.TrimSpace(string(raw)), `"`)
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("gmail: push historyId %s is not a history id", raw)
	}
	return n, nil
}
