package press

import (
	"slices"
	"strings"
	"testing"

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
