package gcalsandbox

import (
	"context"
	"net/url"

	"github.com/poblysh/poblysh/sandbox"
	googlesandbox "github.com/poblysh/poblysh/sandbox/google"
)

// Notification is one push notification sent (or held) for a change.
type Notification = googlesandbox.Notification

// DeliveryResult is the outcome of one attempt to deliver a notification.
type DeliveryResult = googlesandbox.DeliveryResult

// Notify sends a notification with the given resource state ("exists",
// "not_exists") to every live channel on the calendar, each with its next
// message number. Copies repeat a notification with the same number; Hold
// queues it for /_sandbox/flush (out of order).
func (s *Server) Notify(ctx context.Context, calendarID, state string, opt sandbox.DeliveryOptions) []Notification {
	if calendarID == "primary" {
		calendarID = s.opts.User
	}
	return s.chans.Notify(ctx, calendarID, state, nil, opt)
}

// pathEscape escapes a calendar id for a URL path ('@' stays, '#' does not).
func pathEscape(id string) string { return url.PathEscape(id) }
