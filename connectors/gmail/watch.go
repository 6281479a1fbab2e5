package gmail

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"golang.org/x/oauth2"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/connectors/google"
)

// renewEvery is how often users.watch is called again. Google stops a watch
// after 7 days and asks for a daily re-watch; the channel records an expiry
// a day and a half away, so the renewal sweep (which renews a channel a
// third of its life before it expires, or two sweep intervals when longer:
// db.RenewWithin) watches again every 24 hours (every 12 under a 12 h
// POBLYSH_RENEWAL_INTERVAL), with six days to spare if a renewal fails.
const renewEvery = 36 * time.Hour

// WatchTargets lists the one thing watched: the mailbox.
func (c *Connector) WatchTargets(connectors.Connection) ([]string, error) {
	return []string{MailboxRef}, nil
}

// Watch calls users.watch with the Pub/Sub topic and no label filter. A
// mailbox has one watch per Cloud project, shared by every connection of
// it (of any tenant) and set by whichever called last: a filter of this
// connection's labels silenced the others' (their channels still recorded
// live, so they synced only at the reconcile interval). Unfiltered, every
// change pushes; a push nudges every label stream of every connection of
// the mailbox anyway (the route key is the mailbox's), and passes are
// coalesced. A label a connection starts to follow pushes at once, with
// no new watch. Calling it again renews it, so the channel this returns is
// bookkeeping for the renewal sweep. It refuses (ErrInvalidConfig: the
// connection polls) without a topic or without push verification
// configured, since pushes could not be accepted.
//
// The channel's route key is the address users.getProfile answers now
// (one call per watch), not the one stored at connect: pushes name the
// mailbox's current primary address, and a Workspace admin may rename
// the user (the old address becomes an alias; the account, its subject
// and this grant stay). Built from the stored address, a renamed
// mailbox's pushes reached no connection, and every renewal registered
// the old key again.
func (c *Connector) Watch(ctx context.Context, req connectors.WatchRequest) ([]connectors.Channel, error) {
	switch {
	case c.topic == "":
		return nil, fmt.Errorf("gmail: watch: %w: POBLYSH_GMAIL_PUBSUB_TOPIC is not set", connectors.ErrInvalidConfig)
	case c.serviceAccount == "":
		return nil, fmt.Errorf("gmail: watch: %w: POBLYSH_GMAIL_PUSH_SERVICE_ACCOUNT is not set, pushes could not be verified", connectors.ErrInvalidConfig)
	}
	if _, err := config(req.Connection); err != nil {
		return nil, err
	}
	mailbox, _, err := c.profile(ctx, req.HTTP)
	if err != nil {
		return nil, fmt.Errorf("gmail: watch: users.getProfile: %w", err)
	}
	var got struct {
		HistoryID  string `json:"historyId"`
		Expiration string `json:"expiration"` // epoch ms as a string
	}
	if err := c.call(ctx, req.HTTP, http.MethodPost, "watch", nil, map[string]any{"topicName": c.topic}, &got); err != nil {
		return nil, fmt.Errorf("gmail: watch: %w", err)
	}
	now := req.Now
	if now.IsZero() {
		now = time.Now()
	}
	ms, err := strconv.ParseInt(got.Expiration, 10, 64)
	if err != nil {
		ms = 0 // missing or unreadable: the renewal asked for stands
	}
	expires := google.ChannelExpires(now.Add(renewEvery), ms)
	return []connectors.Channel{{
		ID:         google.ChannelPrefix + "gmail-" + connectors.RandomToken(18),
		ResourceID: mailbox,
		Target:     MailboxRef,
		RouteKey:   RouteKey(mailbox),
		Expires:    expires.UTC(),
	}}, nil
}

// StopWatch drops a superseded channel: a renewal's users.watch already
// replaced the mailbox's watch, and users.stop would end the new one too.
// The watch itself is stopped when the connection goes (Revoke).
func (c *Connector) StopWatch(context.Context, connectors.StopWatchRequest) error { return nil }

// Revoke stops the mailbox's watch (users.stop) and then revokes the grant.
// An access token that has expired, or will within a minute, or whose
// expiry is not given, is first exchanged for a fresh one with the refresh
// token (disconnect passes the token it has just refreshed when needed,
// with its expiry, so it costs no second refresh). A failed stop does not
// keep the grant from being revoked (Gmail stops pushing for a revoked
// grant's watch within its week anyway); both failures are reported.
func (c *Connector) Revoke(ctx context.Context, acct connectors.Account, tok *oauth2.Token) error {
	var stopErr error
	if tok != nil && c.topic != "" {
		stopErr = c.stopMailbox(ctx, tok)
	}
	return errors.Join(stopErr, c.Auth.Revoke(ctx, acct, tok))
}

func (c *Connector) stopMailbox(ctx context.Context, tok *oauth2.Token) error {
	access := tok.AccessToken
	if tok.RefreshToken != "" && (access == "" || tok.Expiry.IsZero() || time.Until(tok.Expiry) < time.Minute) {
		cfg := c.OAuth2Config(c.Config.CallbackURL(Provider))
		fresh, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken, Expiry: time.Unix(1, 0)}).Token()
		if err == nil {
			access = fresh.AccessToken
		}
	}
	if access == "" {
		return nil
	}
	base := google.TokenClient(ctx)
	hc := &http.Client{Timeout: 30 * time.Second, Transport: bearerTransport{base: base.Transport, token: access}}
	if err := c.call(ctx, hc, http.MethodPost, "stop", nil, nil, nil); err != nil && connectors.Kind(err) != connectors.ErrNotFound {
		return fmt.Errorf("gmail: users.stop: %w", err)
	}
	return nil
}

// bearerTransport authorizes the one users.stop call made outside the
// engine's clients.
type bearerTransport struct {
	base  http.RoundTripper
	token string
}

// RoundTrip implements http.RoundTripper.
func (t bearerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.base
	if base == nil {
		base = http.DefaultTransport
	}
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", "Bearer "+t.token)
	return base.RoundTrip(req)
}
