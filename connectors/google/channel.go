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
// until they are renewed.
func ChannelToken(secret, channelID string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(channelID))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
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
// equal the token derived from secret and X-Goog-Channel-ID, compared in
// constant time. Google signs nothing and sends no body, so the channel
// token is the whole proof. No secret configured: always rejected.
func VerifyChannel(provider, secret string, h http.Header) error {
	if secret == "" {
		return fmt.Errorf("%s: %w: no webhook secret configured", provider, connectors.ErrUnauthorized)
	}
	id, tok := h.Get(HeaderChannelID), h.Get(HeaderChannelToken)
	if id == "" || tok == "" {
		return fmt.Errorf("%s: %w: missing channel id or token", provider, connectors.ErrUnauthorized)
	}
	if !hmac.Equal([]byte(tok), []byte(ChannelToken(secret, id))) {
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
