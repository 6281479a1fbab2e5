package gmailsandbox

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"

	"github.com/poblysh/poblysh/sandbox"
	googlesandbox "github.com/poblysh/poblysh/sandbox/google"
)

// Name is the provider the fake plays (the connector's Spec.Name).
const Name = "gmail"

// FaultShortPages caps every list and history page at 2 items whatever
// maxResults asks, so that even the small seed is read in several pages.
const FaultShortPages = "short-pages"

func init() { sandbox.Register(Name, newFake) }

// newFake maps the uniform sandbox options onto this fake's own. Pushes go
// to the push subscription's endpoint: the service's webhook URL under
// DeliverTo, carrying the webhook secret as ?token= when there is one.
func newFake(o sandbox.Options) (sandbox.Fake, error) {
	if err := sandbox.CheckFaults(Name, o.Faults, FaultShortPages); err != nil {
		return nil, err
	}
	opts := Options{ClientID: o.ClientID, ClientSecret: o.ClientSecret, WebhookSecret: o.WebhookSecret,
		AccessTTL: o.AccessTTL, Seed: o.Seed, Now: o.Now}
	if slices.Contains(o.Faults, FaultShortPages) {
		opts.PageSize = 2
	}
	s := New(opts)
	if o.DeliverTo != "" {
		s.Base.Deliverer.SetTarget(PushEndpoint(o.DeliverTo, o.WebhookSecret))
	}
	return s, nil
}

// PushEndpoint is the push subscription's endpoint for the service at base:
// its Gmail webhook URL, with ?token=<secret> when a secret is set.
func PushEndpoint(base, secret string) string {
	u := sandbox.WebhookURL(base, Name)
	if secret != "" {
		u += "?token=" + url.QueryEscape(secret)
	}
	return u
}

// Demo implements sandbox.Demoer: connect INBOX and SENT, then receive a
// journalist's request for comment (a Pub/Sub push tells the service to
// read the mailbox's history).
func (s *Server) Demo() sandbox.Demo {
	return sandbox.Demo{
		Config: map[string]any{"labels": []string{"INBOX", "SENT"}},
		Activity: func(ctx context.Context, c *http.Client, baseURL, marker string) (sandbox.DemoActivity, error) {
			var out struct {
				Message Message `json:"message"`
				Pushes  []any   `json:"pushes"`
			}
			err := sandbox.ControlJSON(ctx, c, http.MethodPost, baseURL, "/_sandbox/gmail/messages", map[string]any{
				"from": "Kim Lee <kim.lee@nytimes.com>", "to": googlesandbox.DefaultUser,
				"subject": "Request for comment on the launch (" + marker + ")",
				"snippet": "I'm writing a story on the launch and would welcome a comment by 5pm.",
			}, &out)
			if err != nil {
				return sandbox.DemoActivity{}, err
			}
			return sandbox.DemoActivity{Kind: "email.press_thread", Description: fmt.Sprintf(
				"a reporter wrote to the inbox: message %s (%d push(es))", out.Message.ID, len(out.Pushes))}, nil
		},
	}
}
