package lifecycle

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRedirectAllowlist: the allow-list matches by origin plus exact path or
// a path prefix at a "/" boundary, after normalization, and refuses the
// tricks that make a URL mean something else to a browser.
func TestRedirectAllowlist(t *testing.T) {
	t.Parallel()
	allow := []string{
		"https://app.example.com/done",    // exact path, and below it at a "/"
		"https://app.example.com/hooks/",  // everything under /hooks/
		"https://admin.example.com",       // the whole origin
		"http://localhost:3000/oauth/end", // another scheme and port
		"not a url",                       // a broken entry matches nothing
	}
	cases := []struct {
		name, raw string
		want      string // normalized; "" when refused
	}{
		{"exact path", "https://app.example.com/done", "https://app.example.com/done"},
		{"query kept", "https://app.example.com/done?tab=1&x=%2F", "https://app.example.com/done?tab=1&x=%2F"},
		{"below at a segment boundary", "https://app.example.com/done/step", "https://app.example.com/done/step"},
		{"trailing slash", "https://app.example.com/done/", "https://app.example.com/done/"},
		{"prefix entry", "https://app.example.com/hooks/github", "https://app.example.com/hooks/github"},
		{"prefix entry itself", "https://app.example.com/hooks/", "https://app.example.com/hooks/"},
		{"whole origin", "https://admin.example.com/any/path", "https://admin.example.com/any/path"},
		{"origin root", "https://admin.example.com", "https://admin.example.com"},
		{"case and default port", "HTTPS://APP.Example.com:443/done", "https://app.example.com/done"},
		{"non-default port entry", "http://localhost:3000/oauth/end", "http://localhost:3000/oauth/end"},

		{"prefix without boundary", "https://app.example.com/done-evil", ""},
		{"prefix without boundary, suffix", "https://app.example.com/doneevil/x", ""},
		{"prefix entry without its slash", "https://app.example.com/hooks", ""},
		{"other path", "https://app.example.com/admin", ""},
		{"dot-dot escapes the prefix", "https://app.example.com/done/../admin", ""},
		{"dot segment", "https://app.example.com/done/./x", ""},
		{"encoded dot-dot", "https://app.example.com/done/%2e%2e/admin", ""},
		{"encoded dot-dot upper", "https://app.example.com/done/%2E%2E/admin", ""},
		{"encoded slash", "https://app.example.com/done%2F..%2Fadmin", ""},
		{"encoded backslash", "https://app.example.com/done/%5c..%5cadmin", ""},
		{"double encoding", "https://app.example.com/done/%252e%252e/admin", ""},
		{"encoded control char", "https://app.example.com/done/%0d%0aLocation:evil", ""},
		{"backslash", "https://app.example.com/done\\..\\admin", ""},
		{"backslash authority", "https://app.example.com\\@evil.com/done", ""},
		{"userinfo", "https://app.example.com@evil.com/done", ""},
		{"userinfo with password", "https://user:pw@app.example.com/done", ""},
		{"empty userinfo", "https://@app.example.com/done", ""},
		{"double slash", "https://app.example.com//evil.com/done", ""},
		{"empty segment", "https://app.example.com/done//x", ""},
		{"other host suffix", "https://app.example.com.evil.com/done", ""},
		{"other subdomain", "https://evil.app.example.com/done", ""},
		{"trailing dot host", "https://app.example.com./done", ""},
		{"other scheme", "http://app.example.com/done", ""},
		{"other port", "https://app.example.com:8443/done", ""},
		{"javascript", "javascript:alert(1)//https://app.example.com/done", ""},
		{"opaque", "https:app.example.com/done", ""},
		{"scheme-relative", "//app.example.com/done", ""},
		{"relative", "/done", ""},
		{"fragment", "https://app.example.com/done#x", ""},
		{"space", "https://app.example.com/done x", ""},
		{"tab", "https://app.example.com/do\tne", ""},
		{"newline", "https://app.example.com/done\n", ""},
		{"percent host", "https://app%2eexample.com/done", ""},
		{"non-ascii host", "https://äpp.example.com/done", ""},
		{"case of path matters", "https://app.example.com/DONE", ""},
		{"broken entry", "not a url", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, ok := redirectAllowed(allow, c.raw)
			require.Equal(t, c.want != "", ok, "%q", c.raw)
			require.Equal(t, c.want, got)
		})
	}
	_, ok := redirectAllowed(nil, "https://app.example.com/done")
	require.False(t, ok, "an empty allow-list admits nothing")
}
