package googledrive

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/connectors/google"
)

// WatchTargets lists what changes.watch channels watch: "my-drive" (the
// user's change feed) when folders are tracked, and each shared drive.
func (c *Connector) WatchTargets(conn connectors.Connection) ([]string, error) {
	cfg, err := config(conn)
	if err != nil {
		return nil, err
	}
	var out []string
	if len(cfg.Folders) > 0 {
		out = append(out, MyDriveRef)
	}
	return append(out, cfg.SharedDrives...), nil
}

// streamOfTarget is the stream a watch target's notifications nudge.
func streamOfTarget(target string) string {
	if target == MyDriveRef {
		return streamChanges
	}
	return streamDrive + target
}

// watchChannel is the Channel body and answer of changes.watch.
type watchChannel struct {
	ID         string `json:"id"`
	Type       string `json:"type,omitempty"`
	Address    string `json:"address,omitempty"`
	Token      string `json:"token,omitempty"`
	Expiration string `json:"expiration,omitempty"` // int64 ms as a string
	ResourceID string `json:"resourceId,omitempty"`
}

// Watch opens a changes.watch channel on each target (every target when
// req.Targets is empty), from a fresh start page token: notifications only
// say "something changed" and the stream reads the changes from its own
// cursor. The channel token is derived from the webhook secret, as
// Calendar's. A channel expires at the expiration asked for (now +
// CHANNEL_TTL), or at Google's answer when that is earlier
// (google.ChannelExpires). It refuses without a webhook secret, since
// notifications could not be verified; when one target fails, the channels
// already opened are stopped (best effort).
func (c *Connector) Watch(ctx context.Context, req connectors.WatchRequest) ([]connectors.Channel, error) {
	if c.Config.WebhookSecret == "" {
		return nil, fmt.Errorf("google-drive: watch: %w: POBLYSH_GOOGLE_DRIVE_WEBHOOK_SECRET is not set", connectors.ErrInvalidConfig)
	}
	if req.CallbackURL == "" {
		return nil, fmt.Errorf("google-drive: watch: %w: no callback URL", connectors.ErrInvalidConfig)
	}
	targets := req.Targets
	if len(targets) == 0 {
		var err error
		if targets, err = c.WatchTargets(req.Connection); err != nil {
			return nil, err
		}
	}
	now := req.Now
	if now.IsZero() {
		now = time.Now()
	}
	var out []connectors.Channel
	for _, target := range targets {
		ch, err := c.watch(ctx, req, target, now)
		if err != nil {
			for _, done := range out {
				_ = c.StopWatch(ctx, connectors.StopWatchRequest{Connection: req.Connection, HTTP: req.HTTP, Channel: done})
			}
			return nil, fmt.Errorf("google-drive: watch %s: %w", target, err)
		}
		out = append(out, ch)
	}
	return out, nil
}

func (c *Connector) watch(ctx context.Context, req connectors.WatchRequest, target string, now time.Time) (connectors.Channel, error) {
	drive := ""
	if target != MyDriveRef {
		drive = target
	}
	tok, err := c.startPageToken(ctx, req.HTTP, drive)
	if err != nil {
		return connectors.Channel{}, err
	}
	q := allDrives(url.Values{"pageToken": {tok}, "includeItemsFromAllDrives": {"true"}})
	if drive != "" {
		q.Set("driveId", drive)
	}
	id := google.NewChannelID()
	asked := now.Add(c.channelTTL)
	var got watchChannel
	err = c.call(ctx, req.HTTP, http.MethodPost, "changes/watch", q, watchChannel{
		ID: id, Type: "web_hook", Address: req.CallbackURL, Token: google.ChannelToken(c.Config.WebhookSecret, id),
		Expiration: strconv.FormatInt(asked.UnixMilli(), 10),
	}, &got)
	if err != nil {
		return connectors.Channel{}, err
	}
	ms, err := strconv.ParseInt(got.Expiration, 10, 64)
	if err != nil {
		ms = 0 // absent or unreadable: the expiry asked for
	}
	return connectors.Channel{
		ID: id, ResourceID: got.ResourceID, Target: target, Stream: streamOfTarget(target), RouteKey: google.RouteKey(id),
		Expires: google.ChannelExpires(asked, ms),
	}, nil
}

// StopWatch stops a channel with channels.stop; one Google no longer knows
// is already stopped.
func (c *Connector) StopWatch(ctx context.Context, req connectors.StopWatchRequest) error {
	if req.HTTP == nil {
		return fmt.Errorf("google-drive: no HTTP client")
	}
	if err := google.StopChannel(ctx, req.HTTP, c.Config.Endpoints.APIURL, req.Channel, c.ClassifyResponse); err != nil {
		return fmt.Errorf("google-drive: %w", err)
	}
	return nil
}

// VerifyWebhook authenticates a push notification by its derived channel
// token (google.VerifyChannel), under the webhook secret or the retired
// one. No secret configured: always rejected.
func (c *Connector) VerifyWebhook(req *connectors.WebhookRequest) error {
	return google.VerifyChannel(Provider, c.Config.WebhookSecret, c.retiredSecret, req.Header)
}

// ParseWebhook turns a verified notification into a delivery keyed by
// channel id and message number. Changes channels send "sync" after the
// watch, then "change": it nudges a coalesced incremental sync of the
// channel's stream.
func (c *Connector) ParseWebhook(req *connectors.WebhookRequest) (*connectors.WebhookDelivery, error) {
	return google.ParseChannel(Provider, req.Header)
}
