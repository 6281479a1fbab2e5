package gcalsandbox

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/poblysh/poblysh/sandbox"
)

// Name is the provider the fake plays (the connector's Spec.Name).
const Name = "google-calendar"

// FaultShortPages caps every events.list page at 4 events whatever
// maxResults asks, as Google may (it returns fewer than asked at times),
// so that even the small seed is read in several pages.
const FaultShortPages = "short-pages"

func init() { sandbox.Register(Name, newFake) }

// newFake maps the uniform sandbox options onto this fake's own. Pushes go
// to the address of each watch channel, so DeliverTo is not needed.
func newFake(o sandbox.Options) (sandbox.Fake, error) {
	if err := sandbox.CheckFaults(Name, o.Faults, FaultShortPages); err != nil {
		return nil, err
	}
	opts := Options{ClientID: o.ClientID, ClientSecret: o.ClientSecret, WebhookSecret: o.WebhookSecret,
		AccessTTL: o.AccessTTL, Seed: o.Seed, Now: o.Now}
	if slices.Contains(o.Faults, FaultShortPages) {
		opts.PageSize = 4
	}
	return New(opts), nil
}

// Demo implements sandbox.Demoer: connect the primary calendar with a
// backfill window reaching the seed, then create an event on it (a bodiless push notification tells the service
// to sync).
func (s *Server) Demo() sandbox.Demo {
	return sandbox.Demo{
		// The seed is of January 2025: a window that reaches it (the
		// default is the last 30 days).
		Config: map[string]any{"calendars": []string{"primary"}, "backfill_days": 3650},
		Activity: func(ctx context.Context, c *http.Client, baseURL, marker string) (sandbox.DemoActivity, error) {
			start := time.Now().UTC().Add(24 * time.Hour).Truncate(time.Hour)
			var ev struct {
				Event struct {
					ID string `json:"id"`
				} `json:"event"`
				Notifications []any `json:"notifications"`
			}
			err := sandbox.ControlJSON(ctx, c, http.MethodPost, baseURL, "/_sandbox/calendar/calendars/primary/events", map[string]any{
				"summary":     "Interview with TechCrunch (" + marker + ")",
				"description": "Created by make demo.",
				"start":       map[string]string{"dateTime": start.Format(time.RFC3339)},
				"end":         map[string]string{"dateTime": start.Add(30 * time.Minute).Format(time.RFC3339)},
			}, &ev)
			if err != nil {
				return sandbox.DemoActivity{}, err
			}
			return sandbox.DemoActivity{Kind: "calendar_event.created", Description: fmt.Sprintf(
				"created event %s on the primary calendar (%d push notification(s))", ev.Event.ID, len(ev.Notifications))}, nil
		},
	}
}
