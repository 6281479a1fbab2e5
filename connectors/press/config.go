package press

import (
	"strconv"
	"strings"

	"golang.org/x/net/publicsuffix"
)

// tenantConfig is a Config in canonical form.
type tenantConfig struct {
	domains   map[string]bool
	addresses map[string]string // mailbox key -> the configured address, canonical
}

// compileConfig canonicalizes a tenant's contacts. It is lenient, because
// the values come from people: "@Reuters.com", "*.reuters.com" and
// "Jane <jane@x.example>" are understood; values that are neither a domain
// nor an address are ignored (the API validates them when they are saved;
// see ValidateConfig), and so is a public suffix ("co.uk"), which a config
// saved before ValidateConfig refused one may still hold.
func compileConfig(cfg Config) tenantConfig {
	tc := tenantConfig{domains: map[string]bool{}, addresses: map[string]string{}}
	for _, d := range cfg.Domains {
		if c, ok := configDomain(d); ok && !isPublicSuffix(c) {
			tc.domains[c] = true
		}
	}
	for _, a := range cfg.Addresses {
		if box, ok := configAddress(a); ok {
			tc.addresses[box.key()] = box.String()
		}
	}
	return tc
}

// domain returns the configured domain that d equals or is a subdomain of.
func (tc tenantConfig) domain(d string) string {
	s, _ := inDomains(d, tc.domains)
	return s
}

func configDomain(s string) (string, bool) {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "*.")
	s = strings.TrimPrefix(s, "@")
	d, ok := canonDomain(s)
	if !ok || !strings.Contains(d, ".") {
		return "", false
	}
	return d, true
}

// isPublicSuffix reports whether a canonical domain is an ICANN public
// suffix (co.uk, com.au), under which anyone registers a domain: as a
// tenant press domain it would make every sender under it press. Private
// suffixes (a hosting platform's, github.io) are left to the tenant.
func isPublicSuffix(d string) bool {
	suffix, icann := publicsuffix.PublicSuffix(d)
	return icann && suffix == d
}

func configAddress(s string) (mailbox, bool) {
	a, ok := ParseAddress(s)
	if !ok {
		return mailbox{}, false
	}
	return canonMailbox(a.Email)
}

// ValidateConfig reports the first entry of cfg that Detect would ignore
// (a public suffix among them), or a freemail domain (which would make
// every sender there press), so a
// connection-config check or a tenant PATCH can refuse it with a clear
// message instead of silently matching nothing or everything.
func ValidateConfig(cfg Config) error {
	t, err := loadTables()
	if err != nil {
		return err
	}
	for i, d := range cfg.Domains {
		c, ok := configDomain(d)
		if !ok {
			return &ConfigError{Field: "domains", Index: i, Value: d, Reason: "not a domain name"}
		}
		if isPublicSuffix(c) {
			// "*.co.uk" would make every domain registered there press.
			return &ConfigError{Field: "domains", Index: i, Value: d, Reason: "a public suffix, under which anyone registers a domain: list the outlet's own domain instead"}
		}
		if t.isFreemail(c) {
			// Every gmail.com sender would be press; the person's address is meant.
			return &ConfigError{Field: "domains", Index: i, Value: d, Reason: "a freemail domain: list the journalist's address instead"}
		}
	}
	for i, a := range cfg.Addresses {
		if _, ok := configAddress(a); !ok {
			return &ConfigError{Field: "addresses", Index: i, Value: a, Reason: "not an e-mail address"}
		}
	}
	return nil
}

// ConfigError names an invalid entry of a Config.
type ConfigError struct {
	Field  string // "domains" or "addresses"
	Index  int
	Value  string
	Reason string
}

func (e *ConfigError) Error() string {
	return "press: " + e.Field + "[" + strconv.Itoa(e.Index) + "] " + strconv.Quote(e.Value) + ": " + e.Reason
}
