package googlecalendar

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	calendar "google.golang.org/api/calendar/v3"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/connectors/google"
)

// ChannelToken is the X-Goog-Channel-Token of a channel (google.ChannelToken).
func ChannelToken(secret, channelID string) string { return google.ChannelToken(secret, channelID) }

// Watch registers an events watch channel on each target calendar (every
// configured calendar when req.Targets is empty). It refuses without a
// webhook secret, since notifications could not be verified. A calendar
// Google cannot watch (400 pushNotSupportedForRequestedResource: a
// holiday or birthday calendar) is left without a channel: it is read by
// polling, and the engine, seeing a target without a channel, keeps the
// connection's poll interval. When any other failure stops a calendar,
// the channels already created are stopped (best effort) and the error is
// returned.
func (c *Connector) Watch(ctx context.Context, req connectors.WatchRequest) ([]connectors.Channel, error) {
	if c.Config.WebhookSecret == "" {
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
	now := req.Now
	if now.IsZero() {
		now = time.Now()
	}
	var out []connectors.Channel
	for _, calID := range targets {
		ch, err := c.watchCalendar(ctx, svc, req.CallbackURL, calID, now)
		if errors.Is(err, errPushNotSupported) {
			continue // polled
		}
		if err != nil {
			c.stopAll(ctx, req, out)
			return nil, fmt.Errorf("google-calendar: watch %s: %w", calID, err)
		}
		out = append(out, ch)
	}
	return out, nil
}

// watchCalendar opens one channel (events.watch) on calID, asking for
// params.ttl CHANNEL_TTL. It expires then (now + ttl), or at Google's
// expiration when that is earlier (google.ChannelExpires): the answer may
// leave it out, and the channel ends all the same.
func (c *Connector) watchCalendar(ctx context.Context, svc *calendar.Service, callback, calID string, now time.Time) (connectors.Channel, error) {
	id := google.NewChannelID()
	got, err := svc.Events.Watch(calID, &calendar.Channel{
		Id:      id,
		Type:    "web_hook",
		Address: callback,
		Token:   ChannelToken(c.Config.WebhookSecret, id),
		Params:  map[string]string{"ttl": strconv.FormatInt(int64(c.channelTTL/time.Second), 10)},
	}).Context(ctx).Do()
	if err != nil {
		return connectors.Channel{}, c.apiError(err)
	}
	ch := connectors.Channel{
		ID:         id,
		ResourceID: got.ResourceId,
		Target:     calID,
		Stream:     streamPrefix + calID,
		RouteKey:   google.RouteKey(id),
		Expires:    google.ChannelExpires(now.Add(c.channelTTL), got.Expiration),
	}
	return ch, nil
}

func (c *Connector) stopAll(ctx context.Context, req connectors.WatchRequest, chans []connectors.Channel) {
	for _, ch := range chans {
		_ = c.StopWatch(ctx, connectors.StopWatchRequest{Connection: req.Connection, HTTP: req.HTTP, Channel: ch})
	}
}

// StopWatch stops a channel with channels.stop {id, resourceId}. A channel
// Google no longer knows (404: expired or already stopped) is not an error.
func (c *Connector) StopWatch(ctx context.Context, req connectors.StopWatchRequest) error {
	if req.HTTP == nil {
		return fmt.Errorf("google-calendar: no HTTP client")
	}
	if err := google.StopChannel(ctx, req.HTTP, c.Config.Endpoints.APIURL, req.Channel, c.ClassifyResponse); err != nil {
		return fmt.Errorf("google-calendar: %w", err)
	}
	return nil
}

// VerifyWebhook authenticates a push notification by its derived channel
// token (google.VerifyChannel), under the webhook secret or the retired
// one. No secret configured: always rejected.
func (c *Connector) VerifyWebhook(req *connectors.WebhookRequest) error {
	return google.VerifyChannel(Provider, c.Config.WebhookSecret, c.retiredSecret, req.Header)
}

// ParseWebhook turns a verified push notification into a delivery keyed by
// channel id and message number (google.ParseChannel). Events channels send
// "exists" and "not_exists" after the initial "sync"; both nudge a
// coalesced incremental sync of the channel's stream.
func (c *Connector) ParseWebhook(req *connectors.WebhookRequest) (*connectors.WebhookDelivery, error) {
	return google.ParseChannel(Provider, req.Header)
}

// WatchTargets lists the configured calendars: one channel each.
func (c *Connector) WatchTargets(conn connectors.Connection) ([]string, error) {
	return calendars(conn)
}
