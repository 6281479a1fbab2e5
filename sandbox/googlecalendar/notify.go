package gcalsandbox

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/poblysh/poblysh/sandbox"
)

// Notification is one push notification sent (or held) for a change.
type Notification struct {
	ChannelID     string           `json:"channel_id"`
	MessageNumber int64            `json:"message_number"`
	State         string           `json:"state"`
	Held          bool             `json:"held,omitempty"`
	Results       []DeliveryResult `json:"results,omitempty"`
}

// DeliveryResult is the outcome of one attempt to deliver a notification.
type DeliveryResult struct {
	Status int    `json:"status,omitempty"`
	Body   string `json:"body,omitempty"`
	Error  string `json:"error,omitempty"`
}

// Notify sends a notification with the given resource state ("exists",
// "not_exists") to every live channel on the calendar, each with its next
// message number. Copies repeat a notification with the same number; Hold
// queues it for /_sandbox/flush (out of order).
func (s *Server) Notify(ctx context.Context, calendarID, state string, opt sandbox.DeliveryOptions) []Notification {
	type pending struct {
		ch  *channel
		del sandbox.Delivery
		n   Notification
	}
	s.mu.Lock()
	now := s.now()
	if calendarID == "primary" {
		calendarID = s.opts.User
	}
	var todo []pending
	for _, ch := range s.channels {
		if ch.calendarID != calendarID || !ch.live(now) {
			continue
		}
		ch.messages++
		todo = append(todo, pending{ch: ch, del: s.deliveryLocked(ch, state, ch.messages),
			n: Notification{ChannelID: ch.id, MessageNumber: ch.messages, State: state, Held: opt.Hold}})
	}
	s.mu.Unlock()
	slices.SortFunc(todo, func(a, b pending) int { return strings.Compare(a.ch.id, b.ch.id) })
	out := make([]Notification, 0, len(todo))
	for _, p := range todo {
		for _, r := range s.send(ctx, p.ch.address, p.del, opt) {
			dr := DeliveryResult{Status: r.Status, Body: r.Body}
			if r.Err != nil {
				dr.Error = r.Err.Error()
			}
			p.n.Results = append(p.n.Results, dr)
		}
		out = append(out, p.n)
	}
	return out
}

// send delivers through the shared deliverer. Google posts to each channel's
// address; the deliverer has a single target, so unless one was pinned with
// POST /_sandbox/webhook-target, the target follows the channel's address.
func (s *Server) send(ctx context.Context, address string, del sandbox.Delivery, opt sandbox.DeliveryOptions) []sandbox.Result {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	d := s.Base.Deliverer
	if cur := d.Target(); cur == "" || cur == s.autoTarget {
		d.SetTarget(address)
		s.autoTarget = address
	}
	return d.Send(ctx, del, opt)
}

// requestBase is the scheme and host the request reached the sandbox at.
func requestBase(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// pathEscape escapes a calendar id for a URL path ('@' stays, '#' does not).
func pathEscape(id string) string { return url.PathEscape(id) }

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func slicesSortByID(cs []ChannelInfo) {
	slices.SortFunc(cs, func(a, b ChannelInfo) int { return strings.Compare(a.ID, b.ID) })
}
