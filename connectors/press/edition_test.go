package press

import (
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func hasReason(r Result, sub string) bool {
	return slices.ContainsFunc(r.Reasons, func(s string) bool { return strings.Contains(s, sub) })
}

// A listed outlet's domain under another public suffix is its regional
// edition: judged like any unlisted domain, not as a look-alike. Substrings
// glued in front of a listed domain without a hyphen ("signature.com"
// holds "nature.com") are other names, not look-alikes.
func TestRegionalEditions(t *testing.T) {
	t.Parallel()
	d := New()
	for _, c := range []struct{ email, subject string }{
		{"ana.ruiz@forbes.com.mx", "Solicitud de entrevista: resultados de Acme"},
		{"thale@businessinsider.com.au", "Request for comment: Acme layoffs"},
		{"jo@forbes.com.au", "Request for comment: Acme layoffs"},
		{"lu@forbes.com.br", "Pedido de imprensa: Acme"},
		{"kim@gizmodo.com.au", "Request for comment: Acme layoffs"},
		{"al@rollingstone.com.au", "Request for comment: Acme layoffs"},
		{"mc@elpais.com.co", "Solicitud de entrevista: resultados de Acme"},
		{"rs@computerworld.com.br", "Pedido de imprensa: Acme"},
		{"desk@news.forbes.com.mx", "Request for comment: Acme layoffs"},
		{"ed@signature.com", "Request for comment: store closures"},
		{"ed@wired.community", "Request for comment: store closures"},
	} {
		r := d.Detect(in("Reporter", c.email, c.subject), Config{})
		require.True(t, r.Press, "%s: score %v %q", c.email, r.Score, r.Reasons)
		require.False(t, hasReason(r, "look-alike"), "%s: %q", c.email, r.Reasons)
		require.Empty(t, r.Matched, "%s: an edition is not on the curated list", c.email)
	}
	// Without a cue an edition is an unlisted domain: not press on its own.
	r := d.Detect(in("Ana", "ana@forbes.com.mx", "Quick question"), Config{})
	require.False(t, r.Press, "%q", r.Reasons)
	require.True(t, hasReason(r, "edition of media domain forbes.com (Forbes)"), "%q", r.Reasons)
	// Extra labels after the listed domain, hyphen tricks and private
	// (non-ICANN) suffixes stay look-alikes.
	for _, dom := range []string{"reuters.com.evil.example", "nytimes.com-secure.net", "reuters.com.de", "forbes.com.mx.evil.example"} {
		r := d.Detect(in("Reporter", "reporter@"+dom, "Request for comment: interview request"), Config{})
		require.False(t, r.Press, "%s: %q", dom, r.Reasons)
		require.True(t, hasReason(r, "look-alike of media domain"), "%s: %q", dom, r.Reasons)
	}
}

// TestEditionSignedWithItsOutlet: a journalist at a regional edition signs
// with the outlet's name ("Name | Forbes" from forbes.pl). A registrable
// domain whose label is the outlet's name exactly, under any public suffix,
// is an edition of it, not a look-alike: the signature qualifies it as it
// does any unlisted address. The look-alike rule for an outlet named
// beside an address made of its name refused them all (press=false, 0),
// reading forbes.pl as it reads reuters-news.com. Names with other words,
// and homoglyphs that only read as the name, stay look-alikes.
func TestEditionSignedWithItsOutlet(t *testing.T) {
	t.Parallel()
	d := New()
	const subject = "Interview request: your Q3 robotics launch"
	for _, from := range []string{
		"Anna Nowak | Forbes <anna.nowak@forbes.pl>",
		"Claire Martin | Forbes <claire.martin@forbes.fr>",
		"Jonas Weber | Business Insider <jonas.weber@businessinsider.de>",
		"Tom Hale | WIRED <tom.hale@wired.co.uk>",
		"Luca Rossi | WIRED <luca.rossi@wired.it>",
		"Lena Graf | VICE <lena.graf@vice.de>",
		"Ana Gómez | Politico <ana.gomez@politico.co>",
		"Sam Lee | TechCrunch <sam.lee@techcrunch.io>",
		"Sam Lee | TechCrunch <sam.lee@news.techcrunch.io>",
	} {
		a, ok := ParseAddress(from)
		require.True(t, ok, from)
		r := d.Detect(Message{From: a, To: []Address{{Email: "pat@acme.example"}}, Subject: subject, Account: "pat@acme.example"}, Config{})
		assert.True(t, r.Press, "%s: %.2f %q", from, r.Score, r.Reasons)
		assert.Equal(t, 1.0, r.Score, "%s: %q", from, r.Reasons)
		assert.False(t, hasReason(r, "look-alike"), "%s: %q", from, r.Reasons)
		assert.Empty(t, r.Matched, "%s: an edition is not on the curated list", from)
	}
	for from, outlet := range map[string]string{
		"Anna Nowak | Forbes <anna.nowak@forbes-polska.pl>": "forbes.com",
		"Anna Nowak | Forbes <anna.nowak@fοrbes.pl>":        "forbes.com", // Greek ο
		"Tom Hale | WIRED <tom.hale@wiredmag.co.uk>":        "wired.com",
		"Jane Doe | Reuters <jane@reutеrs.co>":              "reuters.com", // Cyrillic е
	} {
		a, ok := ParseAddress(from)
		require.True(t, ok, from)
		r := d.Detect(Message{From: a, To: []Address{{Email: "pat@acme.example"}}, Subject: subject, Account: "pat@acme.example"}, Config{})
		require.False(t, r.Press, "%s: %.2f %q", from, r.Score, r.Reasons)
		require.True(t, hasReason(r, "look-alike of media domain "+outlet+" ("), "%s: %q", from, r.Reasons)
	}
}
