package press

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestEmbeddedLists(t *testing.T) {
	t.Parallel()
	tb, err := buildTables(mediaList, freemailList)
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(tb.outlets), 300, "the issue asks for at least 300 outlets")
	perRegion := map[string]int{}
	for _, o := range tb.outlets {
		perRegion[o.Region]++
	}
	for r := range regions {
		require.GreaterOrEqual(t, perRegion[r], 20, "region %s", r)
	}
	t.Logf("%d outlets by region: %v; %d freemail domains", len(tb.outlets), perRegion, len(tb.freemail))
	require.True(t, strings.Contains(mediaList, "# Sources."), "the list names its sources")
}

func TestBuildTablesRejects(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ media, freemail, err string }{
		{"reuters.com | WORLD | wire", "", "want 4 fields"},
		{"Reuters.com | WORLD | wire | Reuters", "", "canonical form"},
		{"reuters.com | MARS | wire | Reuters", "", "unknown region"},
		{"reuters.com | WORLD | blog | Reuters", "", "unknown kind"},
		{"reuters.com | WORLD | wire | Reuters\nreuters.com | WORLD | wire | Reuters", "", "duplicate"},
		{"gmail.com | NA | digital | Gmail", "gmail.com", "freemail"},
		{"com | NA | digital | Everything", "", "bad domain"},
		{"", "Gmail.com", "lower-case"},
	} {
		_, err := buildTables(c.media, c.freemail)
		require.ErrorContains(t, err, c.err)
	}
}

func TestCanonDomain(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"Reuters.COM.":     "reuters.com",
		"bücher.example":   "xn--bcher-kva.example",
		"München.de":       "xn--mnchen-3ya.de",
		"例え。テスト":           "xn--r8jz45g.xn--zckzah",
		"ｒｅｕｔｅｒｓ．ｃｏｍ":      "reuters.com",
		"россия.рф":        "xn--h1alffa9f.xn--p1ai",
		"xn--bcher-kva.de": "xn--bcher-kva.de",
	} {
		got, ok := canonDomain(in)
		require.True(t, ok, in)
		require.Equal(t, want, got, in)
	}
	for _, bad := range []string{"", "a..b", "[1.2.3.4]", "a b.com", "x@y.com", strings.Repeat("a", 64) + ".com"} {
		_, ok := canonDomain(bad)
		require.False(t, ok, bad)
	}
}

// TestPunyDecode: decoding undoes punyLabel, and what does not decode is
// refused rather than read as something else.
func TestPunyDecode(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"bücher", "münchen", "reutеrs", "例え", "россия", "ελληνικά", "abc", "a-b", "ü-ü-", "日本語ドメイン", "ab😀cd"} {
		a, ok := punyLabel(u)
		require.True(t, ok, u)
		got, ok := punyDecode(a)
		require.True(t, ok, a)
		require.Equal(t, u, got, a)
	}
	got, ok := punyDecode("xn--bcher-kva")
	require.True(t, ok)
	require.Equal(t, "bücher", got)
	for _, bad := range []string{"xn--bcher-kv!", "xn--bcher-", "xn--99999999999999", "xn--ü-kva", "xn--abc-9"} {
		_, ok := punyDecode(bad)
		require.False(t, ok, bad)
	}
}

func TestIsFreemail(t *testing.T) {
	t.Parallel()
	tb, err := loadTables()
	require.NoError(t, err)
	for d, want := range map[string]bool{
		"gmail.com": true, "yahoo.co.jp": true, "hotmail.com.br": true, "web.de": true, "qq.com": true,
		"163.com": true, "mail.gmx.net": true, "yahooinc.com": false, "yahoo.example.com": false,
		"reuters.com": false, "outlook-news.example": false, "outlook.bbc.com": false, "live.bbc.co.uk": false,
		"yahoo.com.br": true, "hotmail.co.uk": true, "outlook.fr": true,
	} {
		require.Equal(t, want, tb.isFreemail(d), d)
	}
}
