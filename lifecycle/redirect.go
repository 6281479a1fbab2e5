package lifecycle

import (
	"errors"
	"net"
	"net/url"
	"regexp"
	"strings"
)

// encodedTrick matches percent-encodings in a path that a server or a
// browser may decode after the allow-list matched: slashes, backslashes,
// dots, percent signs (double encoding) and control characters.
var encodedTrick = regexp.MustCompile(`(?i)%(2f|5c|2e|25|[01][0-9a-f]|7f)`)

var errRedirect = errors.New("not an acceptable redirect URL")

// normalizeRedirect parses an absolute http(s) URL into the form the
// allow-list compares and the callback redirects to: lowercase scheme and
// host, no default port. It refuses what could make a match mean something
// else to a browser: userinfo, backslashes, control characters and spaces,
// fragments, dot and empty path segments, and encoded slashes, backslashes,
// dots or percent signs in the path.
func normalizeRedirect(raw string) (*url.URL, error) {
	if len(raw) > 2048 || strings.ContainsFunc(raw, func(r rune) bool {
		return r <= ' ' || r == 0x7f || r == '\\' || r == '#'
	}) {
		return nil, errRedirect
	}
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" || u.User != nil || u.Host == "" || u.Fragment != "" {
		return nil, errRedirect
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return nil, errRedirect
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if host == "" || strings.ContainsFunc(host, func(r rune) bool { return r > 0x7e || r == '%' }) {
		return nil, errRedirect
	}
	if (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		port = ""
	}
	if encodedTrick.MatchString(u.EscapedPath()) {
		return nil, errRedirect
	}
	if u.Path != "" {
		segs := strings.Split(u.Path, "/")
		if segs[0] != "" { // a relative path after the authority
			return nil, errRedirect
		}
		for i, s := range segs[1:] {
			last := i == len(segs)-2
			if s == "." || s == ".." || (s == "" && !last) {
				return nil, errRedirect
			}
		}
	}
	out := &url.URL{Scheme: scheme, Host: host, Path: u.Path, RawPath: u.RawPath, RawQuery: u.RawQuery}
	if port != "" {
		out.Host = net.JoinHostPort(host, port)
	}
	return out, nil
}

// redirectAllowed matches raw against the allow-list and returns its
// normalized form. An entry matches by origin (scheme, host and port) and
// then by path: an entry without a path (or "/") admits any path; an entry
// ending in "/" admits the paths under it; any other entry admits its exact
// path and the paths under it at a "/" boundary, so
// https://app.example.com/done admits /done and /done/x, never /done-evil.
// Entries that do not normalize match nothing.
func redirectAllowed(allow []string, raw string) (string, bool) {
	u, err := normalizeRedirect(raw)
	if err != nil {
		return "", false
	}
	for _, a := range allow {
		e, err := normalizeRedirect(a)
		if err != nil || e.Scheme != u.Scheme || e.Host != u.Host {
			continue
		}
		switch p := e.Path; {
		case p == "" || p == "/",
			strings.HasSuffix(p, "/") && strings.HasPrefix(u.Path, p),
			u.Path == p || strings.HasPrefix(u.Path, p+"/"):
			return u.String(), true
		}
	}
	return "", false
}
