package press

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// RFC 3834: a message whose Auto-Submitted is anything but "no" was sent
// by a machine, and auto-reply subjects count against.
func TestAutoReplies(t *testing.T) {
	t.Parallel()
	d := New()
	jane := in("Jane Doe", "jane.doe@reuters.com", "Acme embargoed launch")
	for _, v := range []string{"auto-replied", "Auto-Generated", "auto-notified; owner-email=\"x@y\"", "something-new"} {
		m := jane
		m.AutoSubmitted = v
		r := d.Detect(m, Config{})
		require.False(t, r.Press, "%s: %q", v, r.Reasons)
		require.True(t, hasReason(r, "automatic message (Auto-Submitted"), "%s: %q", v, r.Reasons)
	}
	m := jane
	m.AutoSubmitted = " No "
	require.True(t, d.Detect(m, Config{}).Press, "Auto-Submitted: no is a person's message")
	// RFC 3834 §5 allows comments (CFWS) around the value: "no" with a
	// comment is still no, and a comment does not hide a machine's value.
	for _, v := range []string{"no (not auto-generated)", "(sent by a person) no", "no (a; b)", "No(x) ; private-ext=1"} {
		m.AutoSubmitted = v
		r := d.Detect(m, Config{})
		require.True(t, r.Press, "Auto-Submitted: %s: %q", v, r.Reasons)
	}
	m.AutoSubmitted = "auto-replied (vacation)"
	r := d.Detect(m, Config{})
	require.False(t, r.Press)
	require.True(t, hasReason(r, "automatic message (Auto-Submitted: auto-replied)"), "%q", r.Reasons)
	m.AutoSubmitted = "(no) auto-generated"
	require.False(t, d.Detect(m, Config{}).Press, "a comment saying no is a comment")
	// Without the header: the prefix responders write excludes the message,
	// and the phrases elsewhere in a subject count against.
	for _, s := range []string{"Automatic reply: Acme embargoed launch", "[EXTERNAL] Out of Office: Re: Acme embargoed launch",
		"Abwesenheitsnotiz: Presseanfrage", "Réponse automatique : Demande presse", "Auto-Reply: Request for comment"} {
		r := d.Detect(in("Jane Doe", "jane.doe@reuters.com", s), Config{})
		require.False(t, r.Press, "%s: score %v %q", s, r.Score, r.Reasons)
		require.True(t, hasReason(r, "automatic reply (subject"), "%s: %q", s, r.Reasons)
	}
	r = d.Detect(in("Jane Doe", "jane.doe@reuters.com", "Re: out of office next week, quick question"), Config{})
	require.False(t, r.Press, "%q", r.Reasons)
	require.True(t, hasReason(r, `counter subject cue "out of office"`), "%q", r.Reasons)
	r = d.Detect(in("Jane Doe", "jane.doe@reuters.com", "Absence of evidence: a story on Acme"), Config{})
	require.True(t, r.Press, "a word before a colon is not a prefix unless it is one alone: %q", r.Reasons)
}
