package press

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// Internal mail is decided by the account's own domain, not by guessing
// from the recipients.
func TestAccountDomain(t *testing.T) {
	t.Parallel()
	d := New()
	pat := Address{Name: "Pat Lee", Email: "pat@acme.example"}
	cases := []struct {
		name   string
		m      Message
		press  bool
		reason string
		corr   string // the correspondent's address, when press
	}{
		{"reporter copies a colleague at her unlisted outlet", Message{
			Account: "pat@acme.example", From: Address{Name: "Maria Lopez", Email: "maria.lopez@valleyledger.example"},
			To: []Address{pat}, Cc: []Address{{Name: "Sam Ortiz", Email: "sam.ortiz@valleyledger.example"}},
			Subject: "Request for comment: Acme plant closure",
		}, true, `subject cue "request for comment"`, "maria.lopez@valleyledger.example"},
		{"colleague writes to Reuters, the account on Bcc", Message{
			Account: "pat@acme.example", From: Address{Name: "Kim Park", Email: "kim@acme.example"},
			To: []Address{{Name: "Jane Doe", Email: "jane.doe@reuters.com"}}, Subject: "Re: Request for comment: Acme layoffs",
		}, false, "internal sender", ""},
		{"colleague at a media company", Message{
			Account: "jane.doe@reuters.com", From: Address{Name: "Bob", Email: "bob@reuters.com"},
			To: []Address{{Email: "jane.doe@reuters.com"}}, Subject: "Lunch?",
		}, false, "internal sender", ""},
		{"inbound colleague, account known", Message{
			Account: "pat@acme.example", From: Address{Email: "kim@acme.example"}, To: []Address{{Email: "ops@acme.example"}},
			Subject: "Press inquiry prep",
		}, false, "internal sender", ""},
		{"gmail account writes to a gmail freelancer", Message{
			Account: "patlee.pr@gmail.com", From: Address{Name: "Pat Lee", Email: "patlee.pr@gmail.com"},
			To: []Address{{Name: "Lina Chen", Email: "lina.chen.reporter@gmail.com"}}, Outbound: true,
			Subject: "Re: Request for comment on the recall, deadline today",
		}, true, "freemail domain gmail.com", "lina.chen.reporter@gmail.com"},
		{"gmail account hears from a gmail freelancer", Message{
			Account: "patlee.pr@gmail.com", From: Address{Name: "Lina Chen", Email: "lina.chen.reporter@gmail.com"},
			To: []Address{{Email: "patlee.pr@gmail.com"}}, Subject: "Request for comment on the recall, deadline today",
		}, true, "freemail domain gmail.com", "lina.chen.reporter@gmail.com"},
		{"gmail account writes to itself", Message{
			Account: "patlee.pr@gmail.com", From: Address{Email: "patlee.pr@gmail.com"}, Outbound: true,
			To: []Address{{Email: "Pat.Lee.PR+notes@gmail.com"}}, Subject: "Request for comment, deadline today",
		}, false, "no usable correspondent", ""},
		{"outbound from an alias: the account's domain is still no correspondent", Message{
			Account: "pat@acme.example", From: Address{Email: "press@acme-alias.example"}, Outbound: true,
			To: []Address{{Email: "kim@acme.example"}, {Email: "jane@ft.com"}}, Subject: "Re: questions",
		}, true, "media domain ft.com", "jane@ft.com"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := d.Detect(c.m, Config{})
			require.Equal(t, c.press, r.Press, "score %v reasons %q correspondent %v", r.Score, r.Reasons, r.Correspondent)
			require.True(t, hasReason(r, c.reason), "reasons %q lack %q", r.Reasons, c.reason)
			if c.press {
				require.Equal(t, c.corr, r.Correspondent.Email)
			}
		})
	}
}
