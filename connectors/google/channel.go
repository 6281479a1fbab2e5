package google

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/poblysh/poblysh/connectors"
)

// ChannelPrefix starts the ids of watch channels this service creates, so
// they are recognisable in Google's logs.
const ChannelPrefix = "poblysh-"

// RoutePrefix starts the route key of a channel: "channel:<channel id>".
const RoutePrefix = "channel:"

// Push notification headers (Google sends no body with watch channels).
const (
	HeaderChannelID     = "X-Goog-Channel-Id"
	HeaderChannelToken  = "X-Goog-Channel-Token"
	HeaderMessageNumber = "X-Goog-Message-Number"
	HeaderResourceState = "X-Goog-Resource-State"
)

// StateSync is the resource state of the first message after a watch:
// nothing changed.
const StateSync = "sync"

// ChannelToken is the X-Goog-Channel-Token of a channel: base64url of
// HMAC-SHA256(secret, channelID). It is derived, not stored, so a push
// notification is verified without a lookup, and it is useless for any other
// channel. Rotating the secret invalidates the tokens of existing channels
// (unless the old secret is kept as retired: VerifyChannel) until they are
// replaced: the engine stores each channel's SecretID and replaces a
// channel made under another secret at the next renewal sweep.
func ChannelToken(secret, channelID string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(channelID))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// secretIDMessage is what SecretID signs: it has spaces, which no channel
// id has, so no channel's token is a secret's id.
const secretIDMessage = "poblysh webhook secret id"

// SecretID is the fingerprint of a webhook secret a channel is stored with
// (connectors.SecretBound): the first 16 characters of base64url of
// HMAC-SHA256(secret, "poblysh webhook secret id"), "" for no secret. It
// tells channels made under different secrets apart and does not reveal
// the secret.
func SecretID(secret string) string {
	if secret == "" {
		return ""
	}
	return ChannelToken(secret, secretIDMessage)[:16]
}

// SuffixRetiredSecret is the setting (POBLYSH_<NAME>_WEBHOOK_SECRET_RETIRED)
// that keeps a rotated-out webhook secret accepted on notifications until
// the channels made under it are replaced.
const SuffixRetiredSecret = "WEBHOOK_SECRET_RETIRED"

// RetiredSecret reads POBLYSH_<NAME>_WEBHOOK_SECRET_RETIRED: "" when unset.
// Set without a current secret, or equal to it, it is refused: nothing is
// being rotated, and the setting was likely meant for another variable.
func RetiredSecret(cfg connectors.Config) (string, error) {
	v := cfg.Setting(SuffixRetiredSecret)
	switch {
	case v == "":
		return "", nil
	case cfg.WebhookSecret == "":
		return "", fmt.Errorf("%w: %s is set but the webhook secret is not: set the new secret, and keep the old one as %[2]s",
			connectors.ErrInvalidConfig, cfg.SettingVar(SuffixRetiredSecret))
	case v == cfg.WebhookSecret:
		return "", fmt.Errorf("%w: %s equals the webhook secret: it keeps the secret rotated out accepted, set it to the old one",
			connectors.ErrInvalidConfig, cfg.SettingVar(SuffixRetiredSecret))
	}
	return v, nil
}

// NewChannelID returns a fresh channel id (at most 64 characters of
// [A-Za-z0-9-_], as Google requires).
func NewChannelID() string { return ChannelPrefix + connectors.RandomToken(24) }

// RouteKey is the route key of a channel's notifications.
func RouteKey(channelID string) string { return RoutePrefix + channelID }

// ChannelExpires is when a watch channel ends: the expiry asked for, or
// the expiration Google answered (expirationMs, epoch ms) when it is set and
// earlier. Google's Channel resource has expiration optional, and every
// channel ends (Google grants at most what was asked, capped by its own
// limits) without renewing itself, so an answer without one still ends by
// the time asked for; trusting it as "never" would leave the channel
// unrenewed while Google stops it. The time is in UTC.
func ChannelExpires(asked time.Time, expirationMs int64) time.Time {
	if expirationMs > 0 {
		if got := time.UnixMilli(expirationMs); got.Before(asked) {
			return got.UTC()
		}
	}
	return asked.UTC()
}

// VerifyChannel authenticates a push notification: X-Goog-Channel-Token must
// equal the token derived from secret and X-Goog-Channel-ID, or, when
// retired is set (a secret rotated out, RetiredSecret), the one derived
// from retired: the channels made before the rotation notify with it until
// the renewal sweep replaces them. Compared in constant time. Google signs
// nothing and sends no body, so the channel token is the whole proof. No
// secret configured: always rejected.
func VerifyChannel(provider, secret, retired string, h http.Header) error {
	if secret == "" {
		return fmt.Errorf("%s: %w: no webhook secret configured", provider, connectors.ErrUnauthorized)
	}
	id, tok := h.Get(HeaderChannelID), h.Get(HeaderChannelToken)
	if id == "" || tok == "" {
		return fmt.Errorf("%s: %w: missing channel id or token", provider, connectors.ErrUnauthorized)
	}
	ok := hmac.Equal([]byte(tok), []byte(ChannelToken(secret, id)))
	if retired != "" && hmac.Equal([]byte(tok), []byte(ChannelToken(retired, id))) {
		ok = true
	}
	if !ok {
		return fmt.Errorf("%s: %w: channel token does not match", provider, connectors.ErrUnauthorized)
	}
	return nil
}

// ParseChannel turns a verified push notification into a delivery keyed by
// channel id and message number (a retried notification repeats both). The
// "sync" message that follows a watch is acknowledged and changes nothing;
// every other state notifies the engine, which runs a coalesced incremental
// sync of the channel's stream.
func ParseChannel(provider string, h http.Header) (*connectors.WebhookDelivery, error) {
	id, num, state := h.Get(HeaderChannelID), h.Get(HeaderMessageNumber), h.Get(HeaderResourceState)
	if id == "" || num == "" || state == "" {
		return nil, fmt.Errorf("%s: push notification: %w: missing channel id, message number or resource state", provider, connectors.ErrInvalidConfig)
	}
	return &connectors.WebhookDelivery{
		DeliveryID: id + ":" + num,
		Event:      state,
		RouteKeys:  []string{RouteKey(id)},
		Notify:     state != StateSync,
	}, nil
}

// StopChannel stops a watch channel with POST <apiURL>channels/stop
// {id, resourceId} (Calendar and Drive both serve it at their API root). A
// channel Google no longer knows (404: expired or already stopped) is not
// an error. classify maps error responses when hc is not the engine's
// classifying client.
func StopChannel(ctx context.Context, hc *http.Client, apiURL string, ch connectors.Channel, classify func(*http.Response) error) error {
	err := Call(ctx, hc, http.MethodPost, strings.TrimRight(apiURL, "/")+"/channels/stop",
		map[string]string{"id": ch.ID, "resourceId": ch.ResourceID}, nil, classify)
	if err == nil || errors.Is(err, connectors.ErrNotFound) {
		return nil
	}
	return fmt.Errorf("stop channel %s: %w", ch.ID, err)
}
