package slacksandbox

import (
	"context"
	"fmt"
	"net/http"
	"slices"

	"github.com/poblysh/poblysh/sandbox"
)

// Name is the provider the fake plays (the connector's Spec.Name).
const Name = "slack"

// FaultTokenRotation plays an app with token rotation on: access tokens
// expire (12 h unless Options.AccessTTL says otherwise) and every refresh
// returns a new xoxe-1- refresh token, revoking the old one.
const FaultTokenRotation = "token-rotation"

func init() { sandbox.Register(Name, newFake) }

// newFake maps the uniform sandbox options onto this fake's own. Slack has
// no token lifetime without rotation, so AccessTTL alone changes nothing.
func newFake(o sandbox.Options) (sandbox.Fake, error) {
	if err := sandbox.CheckFaults(Name, o.Faults, FaultTokenRotation); err != nil {
		return nil, err
	}
	s := New(Options{
		ClientID: o.ClientID, ClientSecret: o.ClientSecret, SigningSecret: o.WebhookSecret,
		Rotation: slices.Contains(o.Faults, FaultTokenRotation), AccessTTL: o.AccessTTL,
		Seed: o.Seed, EventsURL: sandbox.WebhookURL(o.DeliverTo, Name),
	})
	if o.Now != nil {
		s.now = o.Now
		s.OAuth.Now = o.Now
	}
	return s, nil
}

// Demo implements sandbox.Demoer: connect the two seeded channels, then
// post a message in #general (the Events API delivers it signed).
func (s *Server) Demo() sandbox.Demo {
	return sandbox.Demo{
		Config: map[string]any{"channels": []string{ChannelGeneral, ChannelPress}},
		Activity: func(ctx context.Context, c *http.Client, baseURL, marker string) (sandbox.DemoActivity, error) {
			var msg struct {
				Deliveries []struct {
					Status int    `json:"status"`
					Error  string `json:"error"`
				} `json:"deliveries"`
			}
			err := sandbox.ControlJSON(ctx, c, http.MethodPost, baseURL, "/_sandbox/slack/messages", map[string]any{
				"channel": ChannelGeneral, "user": UserBob,
				"text": "The Verge wants a comment on the launch by 5pm (" + marker + ")",
			}, &msg)
			if err != nil {
				return sandbox.DemoActivity{}, err
			}
			statuses := []string{}
			for _, d := range msg.Deliveries {
				if d.Error != "" {
					statuses = append(statuses, d.Error)
					continue
				}
				statuses = append(statuses, fmt.Sprint(d.Status))
			}
			return sandbox.DemoActivity{Kind: "message.posted",
				Description: fmt.Sprintf("posted a message in #general (Events API delivery status %v)", statuses)}, nil
		},
	}
}
