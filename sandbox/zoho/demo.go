package zohosandbox

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/poblysh/poblysh/sandbox"
)

// IssuedTokens implements sandbox.Issuer: every access and refresh token
// any DC's accounts server issued.
func (s *Server) IssuedTokens() []string {
	var out []string
	for _, dc := range Locations {
		out = append(out, s.accounts[dc].oauth.Issued()...)
	}
	return out
}

// Demo implements sandbox.Demoer. Zoho Cliq: connect Ada (EU) over the two
// seeded channels, point the organisation's bot at the connection's URL and
// add it to both channels, then post a message (the bot's participation
// handler delivers it). Zoho Mail: connect Ada's mailbox, set its outgoing
// webhook to the connection's URL, then deliver an inbound press inquiry
// (the webhook nudges a poll that stores it).
func (s *Server) Demo() sandbox.Demo {
	if s.product == ProductMail {
		return sandbox.Demo{
			Config: map[string]any{"press": map[string]any{"addresses": []string{SeedPressAddress}}},
			Connected: func(ctx context.Context, c *http.Client, baseURL, webhookURL string) error {
				if webhookURL == "" {
					return errors.New("the connection has no webhook_url (POBLYSH_ZOHO_MAIL_WEBHOOK_SECRET unset)")
				}
				return sandbox.ControlJSON(ctx, c, http.MethodPost, baseURL, "/_sandbox/zoho/mail/hook",
					map[string]any{"user": UserAda, "url": webhookURL}, nil)
			},
			Activity: func(ctx context.Context, c *http.Client, baseURL, marker string) (sandbox.DemoActivity, error) {
				var ans struct {
					Deliveries []deliveryResult `json:"deliveries"`
				}
				err := sandbox.ControlJSON(ctx, c, http.MethodPost, baseURL, "/_sandbox/zoho/mail/messages", map[string]any{
					"user": UserAda, "from": map[string]any{"name": "Kim Lee", "email": "kim.lee@bloomberg.net"},
					"to": []any{map[string]any{"email": "ada@zylker.eu"}}, "subject": "Press inquiry on the launch (" + marker + ")",
				}, &ans)
				if err != nil {
					return sandbox.DemoActivity{}, err
				}
				return sandbox.DemoActivity{Kind: "email.press_thread",
					Description: fmt.Sprintf("a journalist wrote to Ada; the mailbox webhook nudged a poll (%s)", statuses(ans.Deliveries))}, nil
			},
		}
	}
	return sandbox.Demo{
		Config: map[string]any{"channels": []string{UniqueLaunch, UniquePress}, "track_mentions": true},
		Connected: func(ctx context.Context, c *http.Client, baseURL, webhookURL string) error {
			if webhookURL == "" {
				return errors.New("the connection has no webhook_url (POBLYSH_ZOHO_CLIQ_WEBHOOK_SECRET unset)")
			}
			return sandbox.ControlJSON(ctx, c, http.MethodPost, baseURL, "/_sandbox/zoho/cliq/bot",
				map[string]any{"execution_url": webhookURL, "channels": []string{UniqueLaunch, UniquePress}}, nil)
		},
		Activity: func(ctx context.Context, c *http.Client, baseURL, marker string) (sandbox.DemoActivity, error) {
			var ans struct {
				Deliveries []deliveryResult `json:"deliveries"`
			}
			err := sandbox.ControlJSON(ctx, c, http.MethodPost, baseURL, "/_sandbox/zoho/cliq/messages", map[string]any{
				"chat": ChatLaunch, "user": UserPriya, "text": "Reuters published the launch piece (" + marker + ")",
			}, &ans)
			if err != nil {
				return sandbox.DemoActivity{}, err
			}
			return sandbox.DemoActivity{Kind: "message.posted",
				Description: fmt.Sprintf("posted in #launch-room; the bot's participation handler delivered it (%s)", statuses(ans.Deliveries))}, nil
		},
	}
}

func statuses(ds []deliveryResult) string {
	out := ""
	for i, d := range ds {
		if i > 0 {
			out += ", "
		}
		if d.Error != "" {
			out += d.Error
		} else {
			out += fmt.Sprint(d.Status)
		}
	}
	if out == "" {
		return "no delivery"
	}
	return "delivery status " + out
}
