package sandbox

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// Options are the same for every fake, so `poblysh sandbox`, the scripts,
// the demo and the tests start any registered fake alike. A zero value
// gives a working fake with its own defaults.
type Options struct {
	// ClientID and ClientSecret are the OAuth client the fake accepts
	// ("": the fake's defaults, which its Env returns).
	ClientID, ClientSecret string
	// WebhookSecret signs what the fake pushes: GitHub's app webhook
	// secret, Slack's signing secret, Google's channel-token secret… ("":
	// the fake's default).
	WebhookSecret string
	// DeliverTo is the base URL of the Poblysh service: the fake delivers
	// its webhooks and push notifications to
	// DeliverTo + "/api/v1/webhooks/<provider>" ("": nowhere until a test
	// sets a target).
	DeliverTo string
	// Seed fills the fake with its deterministic history.
	Seed bool
	// AccessTTL is the access token lifetime; 0 keeps the provider's
	// default behaviour (which may be tokens that never expire).
	AccessTTL time.Duration
	// Faults switches provider-specific behaviours on by name (e.g.
	// "app-rate-limited", "enterprise-grid"); each fake documents the names
	// it knows and rejects the others.
	Faults []string
	// Now is the fake's clock (nil: time.Now).
	Now func() time.Time
}

// Fake is a running provider fake: an http.Handler serving the provider's
// OAuth, API and control routes.
type Fake interface {
	http.Handler
	// Env returns the POBLYSH_<NAME>_* variables that point the service at
	// this fake served at baseURL.
	Env(baseURL string) map[string]string
}

// NewFunc builds a fake from the uniform options.
type NewFunc func(Options) (Fake, error)

var (
	fakesMu sync.RWMutex
	fakes   = map[string]NewFunc{}
)

// Register adds a provider fake under the provider's name (the connector's
// Spec.Name). The fake's own package calls it in init, like
// connectors.MustRegister; a duplicate or empty name panics.
func Register(name string, fn NewFunc) {
	fakesMu.Lock()
	defer fakesMu.Unlock()
	if name == "" || fn == nil {
		panic("sandbox: Register needs a name and a constructor")
	}
	if _, dup := fakes[name]; dup {
		panic("sandbox: Register called twice for " + name)
	}
	fakes[name] = fn
}

// Registered lists the registered fakes' names, sorted.
func Registered() []string {
	fakesMu.RLock()
	defer fakesMu.RUnlock()
	out := make([]string, 0, len(fakes))
	for n := range fakes {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// New builds the registered fake of a provider.
func New(name string, o Options) (Fake, error) {
	fakesMu.RLock()
	fn, ok := fakes[name]
	fakesMu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("sandbox: no fake registered for %q (known: %s)", name, strings.Join(Registered(), ", "))
	}
	return fn(o)
}

// WebhookURL is where a fake delivers for provider when the service's base
// URL is base ("" when base is "").
func WebhookURL(base, provider string) string {
	if base == "" {
		return ""
	}
	return strings.TrimRight(base, "/") + "/api/v1/webhooks/" + provider
}

// CheckFaults rejects fault names a fake does not know.
func CheckFaults(provider string, asked []string, known ...string) error {
	for _, f := range asked {
		ok := false
		for _, k := range known {
			if f == k {
				ok = true
			}
		}
		if !ok && len(known) == 0 {
			return fmt.Errorf("sandbox %s: unknown fault %q (this fake has no named faults)", provider, f)
		}
		if !ok {
			return fmt.Errorf("sandbox %s: unknown fault %q (known: %s)", provider, f, strings.Join(known, ", "))
		}
	}
	return nil
}
