package press

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// groupHeaders are the headers a Google Group at the organisation's own
// domain (press@acme-robotics.example) adds to what it relays, as Google
// writes them: List-Id, Precedence: list and its own List-Unsubscribe. With
// from rewritten ("'Jane Doe' via Press", which Google does for a sender
// whose domain has a strict DMARC policy), the sender is in X-Original-From
// and Reply-To.
func groupHeaders(from string, rewritten bool) map[string]string {
	h := map[string]string{
		"From": from, "To": "press@acme-robotics.example", "Subject": "Question on the layoffs",
		"List-Id": "<press.acme-robotics.example>", "Precedence": "list",
		"List-Unsubscribe": "<mailto:googlegroups-manage+102938+unsubscribe@googlegroups.com>,\n <https://groups.google.com/a/acme-robotics.example/group/press/subscribe>",
	}
	if rewritten {
		h["From"] = "'Jane Doe' via Press <press@acme-robotics.example>"
		h["X-Original-From"] = from
		h["Reply-To"] = from
	}
	return h
}

func groupMessage(h map[string]string) Message {
	m := HeaderMessage(func(n string) string { return h[n] }, false)
	m.Account = "pat.lee@acme-robotics.example"
	return m
}

// TestInquiryThroughOwnGroup: a journalist's inquiry to the company's own
// press@ Google Group is press. The group's list headers say the message
// came through a list of the organisation's, not that it is bulk mail; when
// the group rewrote From to its own address, the sender is the one in
// X-Original-From (or, without it, Reply-To), who is the correspondent.
func TestInquiryThroughOwnGroup(t *testing.T) {
	t.Parallel()
	d := New()
	jane := Address{Name: "Jane Doe", Email: "jane.doe@reuters.com"}
	for name, h := range map[string]map[string]string{
		"From kept":      groupHeaders("Jane Doe <jane.doe@reuters.com>", false),
		"From rewritten": groupHeaders("Jane Doe <jane.doe@reuters.com>", true),
		"Reply-To only": func() map[string]string {
			h := groupHeaders("Jane Doe <jane.doe@reuters.com>", true)
			delete(h, "X-Original-From")
			return h
		}(),
		"rewritten, no list headers left": {"From": "'Jane Doe' via Press <press@acme-robotics.example>", "Reply-To": "Jane Doe <jane.doe@reuters.com>",
			"To": "press@acme-robotics.example", "Subject": "Question on the layoffs"},
		"the list's address, no via": func() map[string]string {
			h := groupHeaders("Jane Doe <jane.doe@reuters.com>", true)
			h["From"] = "Press <press@acme-robotics.example>"
			return h
		}(),
		"a list at a subdomain": func() map[string]string {
			h := groupHeaders("Jane Doe <jane.doe@reuters.com>", true)
			h["From"], h["List-Id"] = "Press <press@lists.acme-robotics.example>", "<press.lists.acme-robotics.example>"
			h["List-Unsubscribe"] = "<https://lists.acme-robotics.example/unsubscribe/press>"
			return h
		}(),
		"alias domain's group": func() map[string]string {
			h := groupHeaders("Jane Doe <jane.doe@reuters.com>", true)
			h["From"], h["To"], h["List-Id"] = "'Jane Doe' via Press <press@acme-robotics.io>", "press@acme-robotics.io, pat.lee@acme-robotics.io", "Press <press.acme-robotics.io>"
			return h
		}(),
	} {
		r := d.Detect(groupMessage(h), Config{})
		require.True(t, r.Press, "%s: %q", name, r.Reasons)
		require.Equal(t, jane, r.Correspondent, name)
		require.Equal(t, []string{"reuters.com"}, r.Matched, name)
		require.True(t, hasReason(r, "media domain reuters.com"), "%s: %q", name, r.Reasons)
		if h["List-Id"] != "" {
			require.Contains(t, r.Reasons, "through the organisation's own list "+strings.Trim(strings.TrimPrefix(h["List-Id"], "Press "), "<>")+": judged by its sender", name)
		}
		if strings.Contains(h["From"], " via ") {
			require.True(t, hasReason(r, "From rewritten by the list: the sender is in "), "%s: %q", name, r.Reasons)
		}
	}
}

// TestOwnGroupIsNotEveryone: the rule reads who wrote through the group;
// it does not make the group's mail press by itself.
func TestOwnGroupIsNotEveryone(t *testing.T) {
	t.Parallel()
	d := New()
	for name, c := range map[string]struct {
		h      map[string]string
		reason string
	}{
		// A colleague writing to the group is internal, whatever her Reply-To.
		"colleague": {func() map[string]string {
			h := groupHeaders("Kim Park <kim@acme-robotics.example>", false)
			h["Subject"] = "Press inquiry from Reuters: draft answer"
			return h
		}(), "internal sender"},
		"colleague with an outside Reply-To": {func() map[string]string {
			h := groupHeaders("Kim Park <kim@acme-robotics.example>", false)
			h["Subject"], h["Reply-To"] = "Press inquiry from Reuters: draft answer", "jane.doe@reuters.com"
			return h
		}(), "internal sender"},
		// Rewritten, the original sender a colleague: internal too.
		"colleague rewritten": {func() map[string]string {
			h := groupHeaders("Kim Park <kim@acme-robotics.example>", true)
			h["Subject"] = "Press inquiry from Reuters: draft answer"
			return h
		}(), "internal sender"},
		// A newsletter relayed by the group is judged by its sender, and its
		// own List-Unsubscribe, kept beside the group's, still says bulk.
		"newsletter through the group": {func() map[string]string {
			h := groupHeaders("The Morning <nytdirect@nytimes.com>", false)
			h["List-Unsubscribe"] = "<https://nytimes.com/unsubscribe?u=1>, <mailto:googlegroups-manage+102938+unsubscribe@googlegroups.com>"
			return h
		}(), "newsletter or bulk mail (List-Unsubscribe)"},
		"bulk precedence through the group": {func() map[string]string {
			h := groupHeaders("Jane Doe <jane.doe@reuters.com>", false)
			h["Precedence"] = "bulk"
			return h
		}(), "bulk mail (Precedence: bulk)"},
		// Another organisation's list, or a public group, stays list mail.
		"another organisation's group": {func() map[string]string {
			h := groupHeaders("Jane Doe <jane.doe@reuters.com>", false)
			h["List-Id"] = "<press.acme-robotics.example.evil.example>"
			return h
		}(), "mailing list (List-Id)"},
		"a googlegroups.com group": {func() map[string]string {
			h := groupHeaders("Jane Doe <jane.doe@reuters.com>", true)
			h["From"], h["List-Id"] = "'Jane Doe' via Robotics Press <robotics-press@googlegroups.com>", "<robotics-press.googlegroups.com>"
			return h
		}(), "mailing list (List-Id)"},
		// The "via" form from outside the organisation is that sender's own name.
		"via from outside": {map[string]string{"From": "'Jane Doe' via Reuters <desk@press-relay.example>", "Reply-To": "jane.doe@reuters.com",
			"To": "pat.lee@acme-robotics.example", "Subject": "Hello"}, "no press signal"},
	} {
		m := groupMessage(c.h)
		r := d.Detect(m, Config{})
		require.False(t, r.Press, "%s: %q", name, r.Reasons)
		require.True(t, hasReason(r, c.reason), "%s: %q", name, r.Reasons)
	}
	// Without the account, the organisation's domain is not known: list mail.
	m := groupMessage(groupHeaders("Jane Doe <jane.doe@reuters.com>", false))
	m.Account = ""
	r := d.Detect(m, Config{})
	require.False(t, r.Press)
	require.Equal(t, []string{"mailing list (List-Id)"}, r.Reasons)
}
