package press

import (
	_ "embed" // the curated lists ship inside the binary
	"fmt"
	"strings"
	"sync"
)

// The curated lists. See the header of each file for its sources and format,
// and docs/press-detection.md for how to update them.
var (
	//go:embed media_domains.txt
	mediaList string
	//go:embed freemail_domains.txt
	freemailList string
)

// Regions of the curated media list.
var regions = map[string]string{
	"WORLD": "international wires and broadcasters",
	"NA":    "North America",
	"EU":    "Europe",
	"LATAM": "Latin America",
	"APAC":  "Asia-Pacific",
	"MEA":   "Middle East and Africa",
}

// Kinds of outlet in the curated media list.
var kinds = map[string]bool{
	"wire": true, "newspaper": true, "broadcaster": true, "magazine": true,
	"digital": true, "business": true, "tech": true, "trade": true,
}

// Outlet is one entry of the curated media list.
type Outlet struct {
	Domain  string   // canonical (lower-case ASCII) domain; subdomains match too
	Region  string   // WORLD, NA, EU, LATAM, APAC or MEA
	Kind    string   // wire, newspaper, broadcaster, magazine, digital, business, tech or trade
	Name    string   // the outlet's name
	Aliases []string // other names it signs with ("AP" for the Associated Press)
}

// tables is the parsed form of the embedded lists, shared by every Detector.
type tables struct {
	outlets  []Outlet
	media    map[string]int    // domain -> index into outlets
	freemail map[string]bool   // freemail domains
	names    map[string]string // folded outlet name or alias -> domain
}

var loadTables = sync.OnceValues(func() (*tables, error) {
	return buildTables(mediaList, freemailList)
})

// buildTables parses and validates the lists; an error names the line.
func buildTables(media, freemail string) (*tables, error) {
	t := &tables{media: map[string]int{}, freemail: map[string]bool{}, names: map[string]string{}}
	for n, line := range strings.Split(freemail, "\n") {
		line = strings.TrimSpace(stripComment(line))
		if line == "" {
			continue
		}
		d, ok := canonDomain(line)
		if !ok || d != line || !strings.Contains(d, ".") {
			return nil, fmt.Errorf("press: freemail_domains.txt:%d: %q is not a lower-case ASCII domain", n+1, line)
		}
		if t.freemail[d] {
			return nil, fmt.Errorf("press: freemail_domains.txt:%d: duplicate %s", n+1, d)
		}
		t.freemail[d] = true
	}
	for n, line := range strings.Split(media, "\n") {
		line = strings.TrimSpace(stripComment(line))
		if line == "" {
			continue
		}
		o, err := parseOutlet(line)
		if err != nil {
			return nil, fmt.Errorf("press: media_domains.txt:%d: %w", n+1, err)
		}
		if _, dup := t.media[o.Domain]; dup {
			return nil, fmt.Errorf("press: media_domains.txt:%d: duplicate %s", n+1, o.Domain)
		}
		if t.isFreemail(o.Domain) {
			return nil, fmt.Errorf("press: media_domains.txt:%d: %s is a freemail domain", n+1, o.Domain)
		}
		t.media[o.Domain] = len(t.outlets)
		t.outlets = append(t.outlets, o)
		for _, name := range append([]string{o.Name}, o.Aliases...) {
			if k := strings.TrimSpace(fold(name)); k != "" {
				if _, taken := t.names[k]; !taken {
					t.names[k] = o.Domain
				}
			}
		}
	}
	return t, nil
}

// parseOutlet parses "domain | region | kind | Name; Alias; …".
func parseOutlet(line string) (Outlet, error) {
	f := strings.Split(line, "|")
	if len(f) != 4 {
		return Outlet{}, fmt.Errorf("want 4 fields (domain | region | kind | name), got %d", len(f))
	}
	for i := range f {
		f[i] = strings.TrimSpace(f[i])
	}
	d, ok := canonDomain(f[0])
	if !ok || !strings.Contains(d, ".") {
		return Outlet{}, fmt.Errorf("bad domain %q", f[0])
	}
	if d != f[0] {
		return Outlet{}, fmt.Errorf("write the domain in its canonical form %q", d)
	}
	if _, ok := regions[f[1]]; !ok {
		return Outlet{}, fmt.Errorf("unknown region %q", f[1])
	}
	if !kinds[f[2]] {
		return Outlet{}, fmt.Errorf("unknown kind %q", f[2])
	}
	names := strings.Split(f[3], ";")
	for i := range names {
		names[i] = strings.TrimSpace(names[i])
		if names[i] == "" {
			return Outlet{}, fmt.Errorf("empty outlet name in %q", f[3])
		}
	}
	return Outlet{Domain: d, Region: f[1], Kind: f[2], Name: names[0], Aliases: names[1:]}, nil
}

func stripComment(line string) string {
	if i := strings.IndexByte(line, '#'); i >= 0 {
		return line[:i]
	}
	return line
}

// outlet finds the curated outlet for a canonical domain or a parent of it:
// newsroom.reuters.com matches reuters.com, but reuters.com.evil.example and
// notreuters.com do not, because only whole trailing labels are compared.
func (t *tables) outlet(domain string) (Outlet, bool) {
	for s := domain; s != ""; s = parentDomain(s) {
		if i, ok := t.media[s]; ok {
			return t.outlets[i], true
		}
	}
	return Outlet{}, false
}

// freemailLabels are providers with a domain per country (yahoo.co.jp,
// hotmail.com.br); they are freemail under any short country suffix.
var freemailLabels = map[string]bool{"yahoo": true, "hotmail": true, "outlook": true, "live": true, "gmx": true, "ymail": true, "windowslive": true}

// isFreemail reports whether a canonical domain belongs to a webmail
// provider anyone can sign up to.
func (t *tables) isFreemail(domain string) bool {
	for s := domain; s != ""; s = parentDomain(s) {
		if t.freemail[s] {
			return true
		}
	}
	// label.cc, label.co.cc, label.com.cc: a public suffix only, so that
	// outlook.bbc.com stays the BBC's.
	label, suffix, ok := strings.Cut(domain, ".")
	if !ok || !freemailLabels[label] {
		return false
	}
	parts := strings.Split(suffix, ".")
	switch {
	case len(parts) == 1:
		return len(parts[0]) <= 3
	case len(parts) == 2:
		return secondLevel[parts[0]] && len(parts[1]) == 2
	}
	return false
}

// secondLevel are the generic second-level labels of country suffixes
// (co.uk, com.br, ne.jp).
var secondLevel = map[string]bool{"co": true, "com": true, "net": true, "org": true, "ne": true, "or": true}

// parentDomain drops the first label; "" when none is left.
func parentDomain(d string) string {
	if i := strings.IndexByte(d, '.'); i >= 0 {
		return d[i+1:]
	}
	return ""
}

// inDomains reports whether domain equals or is a subdomain of one of set.
func inDomains(domain string, set map[string]bool) (string, bool) {
	for s := domain; s != ""; s = parentDomain(s) {
		if set[s] {
			return s, true
		}
	}
	return "", false
}

// canonDomain returns the lower-case ASCII form of a domain, mapping
// full-width letters and ideographic full stops as IDNA does and encoding
// Unicode labels with Punycode. ok is false for anything that is not a
// host name (spaces, brackets, empty labels, over-long names).
func canonDomain(s string) (string, bool) {
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '。' || r == '．' || r == '｡':
			return '.'
		case r >= 0xFF01 && r <= 0xFF5E:
			return r - 0xFEE0
		}
		return r
	}, strings.TrimSpace(s))
	s = strings.TrimSuffix(strings.ToLower(s), ".")
	if s == "" || len(s) > 1024 {
		return "", false
	}
	labels := strings.Split(s, ".")
	for i, l := range labels {
		a, ok := punyLabel(l)
		if !ok || a == "" || len(a) > pcMaxLabel {
			return "", false
		}
		for j := 0; j < len(a); j++ {
			c := a[j]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return "", false
			}
		}
		labels[i] = a
	}
	out := strings.Join(labels, ".")
	return out, len(out) <= 253
}

// mailbox is an address split into canonical parts.
type mailbox struct {
	local  string // lower-case local part
	domain string // canonical domain
}

// canonMailbox splits and normalizes an address; ok is false when it has no
// usable domain.
func canonMailbox(email string) (mailbox, bool) {
	email = strings.Trim(strings.TrimSpace(email), "<>\"'")
	i := strings.LastIndexByte(email, '@')
	if i <= 0 {
		return mailbox{}, false
	}
	d, ok := canonDomain(email[i+1:])
	if !ok || !strings.Contains(d, ".") {
		return mailbox{}, false
	}
	return mailbox{local: strings.ToLower(strings.Trim(email[:i], "\"")), domain: d}, true
}

// key identifies the mailbox for comparison with configured addresses: a
// "+tag" is dropped everywhere and dots too at Gmail, which ignores them.
func (m mailbox) key() string {
	local := m.local
	if i := strings.IndexByte(local, '+'); i > 0 {
		local = local[:i]
	}
	if m.domain == "gmail.com" || m.domain == "googlemail.com" {
		local = strings.ReplaceAll(local, ".", "")
		return local + "@gmail.com"
	}
	return local + "@" + m.domain
}

// String is the canonical address.
func (m mailbox) String() string { return m.local + "@" + m.domain }
