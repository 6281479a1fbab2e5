package googlecalendar

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"time"

	calendar "google.golang.org/api/calendar/v3"

	"github.com/poblysh/poblysh/connectors"
)

// channelPrefix starts the ids of channels this service creates, so they
// are recognisable in Google's logs.
const channelPrefix = "poblysh-"

// routePrefix starts the route key of a channel: "channel:<channel id>".
const routePrefix = "channel:"

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

// Watch registers an events watch channel on each target calendar (every
// configured calendar when req.Targets is empty). It refuses without a
// webhook secret, since notifications could not be verified. When one
// calendar fails, the channels already created are stopped (best effort)
// and the error is returned.
func (c *Connector) Watch(ctx context.Context, req connectors.WatchRequest) ([]connectors.Channel, error) {
	if c.cfg.WebhookSecret == "" {
		return nil, fmt.Errorf("google-calendar: watch: %w: POBLYSH_GOOGLE_CALENDAR_WEBHOOK_SECRET is not set", connectors.ErrInvalidConfig)
	}
	if req.CallbackURL == "" {
		return nil, fmt.Errorf("google-calendar: watch: %w: no callback URL", connectors.ErrInvalidConfig)
	}
	targets := req.Targets
	if len(targets) == 0 {
		var err error
		if targets, err = calendars(req.Connection); err != nil {
			return nil, err
		}
	}
	svc, _, err := c.service(ctx, req.HTTP, false)
	if err != nil {
		return nil, err
	}
	ttl := strconv.FormatInt(int64(c.channelTTL/time.Second), 10)
	var out []connectors.Channel
	for _, calID := range targets {
		id := channelPrefix + connectors.RandomToken(24)
		got, err := svc.Events.Watch(calID, &calendar.Channel{
			Id:      id,
			Type:    "web_hook",
			Address: req.CallbackURL,
			Token:   ChannelToken(c.cfg.WebhookSecret, id),
			Params:  map[string]string{"ttl": ttl},
		}).Context(ctx).Do()
		if err != nil {
			c.stopAll(ctx, req, out)
			return nil, fmt.Errorf("google-calendar: watch %s: %w", calID, c.apiError(err))
		}
		ch := connectors.Channel{
			ID:         id,
			ResourceID: got.ResourceId,
			Target:     calID,
			Stream:     streamPrefix + calID,
			RouteKey:   routePrefix + id,
		}
		if got.Expiration > 0 {
			ch.Expires = time.UnixMilli(got.Expiration).UTC()
		}
		out = append(out, ch)
	}
	return out, nil
}

func (c *Connector) stopAll(ctx context.Context, req connectors.WatchRequest, chans []connectors.Channel) {
	for _, ch := range chans {
		_ = c.StopWatch(ctx, connectors.StopWatchRequest{Connection: req.Connection, HTTP: req.HTTP, Channel: ch})
	}
}

// StopWatch stops a channel with channels.stop {id, resourceId}. A channel
// Google no longer knows (404: expired or already stopped) is not an error.
func (c *Connector) StopWatch(ctx context.Context, req connectors.StopWatchRequest) error {
	svc, _, err := c.service(ctx, req.HTTP, false)
	if err != nil {
		return err
	}
	err = svc.Channels.Stop(&calendar.Channel{Id: req.Channel.ID, ResourceId: req.Channel.ResourceID}).Context(ctx).Do()
	if err == nil {
		return nil
	}
	if err = c.apiError(err); errors.Is(err, connectors.ErrNotFound) {
		return nil
	}
	return fmt.Errorf("google-calendar: stop channel %s: %w", req.Channel.ID, err)
}

// Push notification headers (Google sends no body).
const (
	headerChannelID     = "X-Goog-Channel-Id"
	headerChannelToken  = "X-Goog-Channel-Token"
	headerMessageNumber = "X-Goog-Message-Number"
	headerResourceState = "X-Goog-Resource-State"
)

// stateSync is the resource state of the first message after a watch
// (nothing changed); events channels otherwise send "exists" and
// "not_exists".
const stateSync = "sync"

// VerifyWebhook authenticates a push notification: X-Goog-Channel-Token must
// equal the token derived from the webhook secret and X-Goog-Channel-ID,
// compared in constant time. Google signs nothing and sends no body, so the
// channel token is the whole proof. No secret configured: always rejected.
func (c *Connector) VerifyWebhook(req *connectors.WebhookRequest) error {
	if c.cfg.WebhookSecret == "" {
		return fmt.Errorf("google-calendar: %w: no webhook secret configured", connectors.ErrUnauthorized)
	}
	id, tok := req.Header.Get(headerChannelID), req.Header.Get(headerChannelToken)
	if id == "" || tok == "" {
		return fmt.Errorf("google-calendar: %w: missing channel id or token", connectors.ErrUnauthorized)
	}
	want := ChannelToken(c.cfg.WebhookSecret, id)
	if !hmac.Equal([]byte(tok), []byte(want)) {
		return fmt.Errorf("google-calendar: %w: channel token does not match", connectors.ErrUnauthorized)
	}
	return nil
}

// ParseWebhook turns a verified push notification into a delivery keyed by
// channel id and message number (a retried notification repeats both). The
// "sync" message that follows a watch is acknowledged and changes nothing;
// every other state ("exists", "not_exists", or one Google adds later)
// notifies the engine, which runs a coalesced incremental sync of the
// channel's stream.
func (c *Connector) ParseWebhook(req *connectors.WebhookRequest) (*connectors.WebhookDelivery, error) {
	id := req.Header.Get(headerChannelID)
	num := req.Header.Get(headerMessageNumber)
	state := req.Header.Get(headerResourceState)
	if id == "" || num == "" || state == "" {
		return nil, fmt.Errorf("google-calendar: push notification: %w: missing channel id, message number or resource state", connectors.ErrInvalidConfig)
	}
	return &connectors.WebhookDelivery{
		DeliveryID: id + ":" + num,
		Event:      state,
		RouteKeys:  []string{routePrefix + id},
		Notify:     state != stateSync,
	}, nil
}

// WatchTargets lists the configured calendars: one channel each.
func (c *Connector) WatchTargets(conn connectors.Connection) ([]string, error) {
	return calendars(conn)
}
