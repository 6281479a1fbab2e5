// Package zoho is what Zoho Cliq and Zoho Mail share: Zoho Accounts OAuth
// across every data centre (the accounts server the callback names, checked
// against an allowlist; per-DC token, refresh and revoke URLs; errors that
// arrive as HTTP 200 with an "error" field), the Zoho-oauthtoken scheme,
// product hosts per data centre, lock periods after throttling, and the
// per-connection URL tokens of bot and webhook URLs. The product connectors
// (connectors/zohocliq, connectors/zohomail) hold no OAuth code of their own.
//
// Zoho's multi-DC model (https://www.zoho.com/accounts/protocol/oauth/multi-dc.html,
// https://www.zoho.com/accounts/protocol/oauth/multi-dc/client-authorization.html):
// the authorization starts at accounts.zoho.com; the callback carries
// location (the user's DC) and accounts-server; the code is exchanged, and
// every later refresh and revocation made, at that accounts server; API calls
// go to the product host of the same DC.
package zoho

import (
	"fmt"
	"net/url"
	"sort"
	"strings"
)

// DC is one Zoho data centre: its location code and the URLs Poblysh uses
// there.
type DC struct {
	// Location is Zoho's code for it, as the callback's location parameter
	// carries it ("us", "eu", "in", "au", "jp", "ca", "sa", "cn", "uk", "ae").
	Location string
	// Accounts is the accounts server (scheme and host, and a path only in
	// the sandbox), without a trailing slash.
	Accounts string
}

// defaultAccounts are Zoho's accounts servers, from the Multi DC page
// (US, EU, IN, AU, JP, CA, SA, UK) plus China and the UAE listed in product
// docs (https://www.zoho.com/mail/help/api/ lists mail.zoho.ae).
var defaultAccounts = map[string]string{
	"us": "https://accounts.zoho.com",
	"eu": "https://accounts.zoho.eu",
	"in": "https://accounts.zoho.in",
	"au": "https://accounts.zoho.com.au",
	"jp": "https://accounts.zoho.jp",
	"ca": "https://accounts.zohocloud.ca",
	"sa": "https://accounts.zoho.sa",
	"cn": "https://accounts.zoho.com.cn",
	"uk": "https://accounts.zoho.uk",
	"ae": "https://accounts.zoho.ae",
}

// DefaultCliqHosts are Cliq's API roots per DC
// (https://www.zoho.com/cliq/help/restapi/ "Multiple data centers"; CA, SA
// from the Cliq OpenAPI servers; UK and UAE follow Zoho's naming and are
// unconfirmed).
var DefaultCliqHosts = map[string]string{
	"us": "https://cliq.zoho.com",
	"eu": "https://cliq.zoho.eu",
	"in": "https://cliq.zoho.in",
	"au": "https://cliq.zoho.com.au",
	"jp": "https://cliq.zoho.jp",
	"ca": "https://cliq.zohocloud.ca",
	"sa": "https://cliq.zoho.sa",
	"cn": "https://cliq.zoho.com.cn",
	"uk": "https://cliq.zoho.uk",
	"ae": "https://cliq.zoho.ae",
}

// DefaultMailHosts are Zoho Mail's API roots per DC (Zoho Mail API docs and
// the published OpenAPI servers; UK follows Zoho's naming, unconfirmed).
var DefaultMailHosts = map[string]string{
	"us": "https://mail.zoho.com",
	"eu": "https://mail.zoho.eu",
	"in": "https://mail.zoho.in",
	"au": "https://mail.zoho.com.au",
	"jp": "https://mail.zoho.jp",
	"ca": "https://mail.zohocloud.ca",
	"sa": "https://mail.zoho.sa",
	"cn": "https://mail.zoho.com.cn",
	"uk": "https://mail.zoho.uk",
	"ae": "https://mail.zoho.ae",
}

// Hosts maps a DC location to a base URL (no trailing slash).
type Hosts map[string]string

// ParseHosts reads "us=https://accounts.zoho.com,eu=https://accounts.zoho.eu"
// (commas or whitespace between entries). An empty value gives def. Every
// URL must be absolute http(s) without query or fragment.
func ParseHosts(name, v string, def map[string]string) (Hosts, error) {
	out := Hosts{}
	if strings.TrimSpace(v) == "" {
		for k, u := range def {
			out[k] = u
		}
		return out, nil
	}
	for _, part := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\t' }) {
		loc, raw, ok := strings.Cut(part, "=")
		loc = strings.ToLower(strings.TrimSpace(loc))
		if !ok || loc == "" {
			return nil, fmt.Errorf("%s: %q must be <location>=<url>", name, part)
		}
		u, err := url.Parse(strings.TrimSpace(raw))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return nil, fmt.Errorf("%s: %q is not an absolute http(s) URL", name, raw)
		}
		out[loc] = strings.TrimRight(u.String(), "/")
	}
	return out, nil
}

// Locations lists the DCs, sorted.
func (h Hosts) Locations() []string {
	out := make([]string, 0, len(h))
	for k := range h {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// normalize lowercases scheme and host and drops a trailing slash, so
// "HTTPS://Accounts.Zoho.EU/" matches "https://accounts.zoho.eu".
func normalize(raw string) (string, bool) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", false
	}
	u.Scheme = strings.ToLower(u.Scheme)
	u.Host = strings.ToLower(u.Host)
	return strings.TrimRight(u.String(), "/"), true
}

// Lookup finds the DC whose accounts server is exactly raw (after
// normalization). Anything else, however close, is not a Zoho accounts
// server this service trusts.
func (h Hosts) Lookup(raw string) (DC, bool) {
	want, ok := normalize(raw)
	if !ok {
		return DC{}, false
	}
	for loc, u := range h {
		if n, ok := normalize(u); ok && n == want {
			return DC{Location: loc, Accounts: u}, true
		}
	}
	return DC{}, false
}
