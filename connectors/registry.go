package connectors

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

var (
	specsMu sync.RWMutex
	specs   = map[string]*Spec{}
)

// MustRegister adds a provider spec to the global set. It panics on a
// missing name or constructor, an unknown kind or a duplicate, like
// database/sql.Register: these are programmer errors.
func MustRegister(s *Spec) {
	specsMu.Lock()
	defer specsMu.Unlock()
	if err := checkSpec(s); err != nil {
		panic("connectors: " + err.Error())
	}
	if _, dup := specs[s.Name]; dup {
		panic("connectors: MustRegister called twice for provider " + s.Name)
	}
	specs[s.Name] = s
}

// Registered returns the globally registered specs, sorted by name.
func Registered() []*Spec {
	specsMu.RLock()
	defer specsMu.RUnlock()
	out := make([]*Spec, 0, len(specs))
	for _, s := range specs {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func checkSpec(s *Spec) error {
	switch {
	case s == nil:
		return fmt.Errorf("spec is nil")
	case s.Name == "":
		return fmt.Errorf("spec name is empty")
	case s.New == nil:
		return fmt.Errorf("provider %s has no constructor", s.Name)
	case s.DisplayName == "":
		return fmt.Errorf("provider %s has no display name", s.Name)
	case len(s.Kinds) == 0:
		return fmt.Errorf("provider %s declares no signal kinds", s.Name)
	case s.RevokeReplacedToken && s.GrantPerClient:
		return fmt.Errorf("provider %s revokes replaced tokens, but a revocation ends its whole grant (GrantPerClient)", s.Name)
	}
	for _, k := range s.Kinds {
		if _, ok := Catalog[k]; !ok {
			return fmt.Errorf("provider %s declares kind %q missing from the catalog", s.Name, k)
		}
	}
	return nil
}

// Provider is a registered spec with its configuration and built connector.
type Provider struct {
	Spec      *Spec
	Config    Config
	Connector Connector
}

// Configured reports whether OAuth client credentials are set.
func (p *Provider) Configured() bool { return p.Config.Configured() }

// Scopes are the OAuth scopes the provider's authorization requests: its
// connector's, which may follow a setting (POBLYSH_GITHUB_SCOPES), else
// the spec's defaults.
func (p *Provider) Scopes() []string {
	if a, ok := p.Connector.(Authorizer); ok {
		return append([]string{}, a.OAuth2Config("").Scopes...)
	}
	return append([]string{}, p.Spec.Scopes...)
}

// Registry is the set of providers one process serves. Consumers receive a
// *Registry rather than reading globals, so tests can build one with only a
// fake provider.
type Registry struct {
	providers map[string]*Provider
	names     []string
	limiters  *Limiters
	budgets   *Budgets
	base      http.RoundTripper
}

// NewRegistry builds a registry from providers.
func NewRegistry(providers ...*Provider) *Registry {
	r := &Registry{providers: map[string]*Provider{}, limiters: NewLimiters(), budgets: NewBudgets(), base: defaultTransport()}
	for _, p := range providers {
		r.providers[p.Spec.Name] = p
		r.names = append(r.names, p.Spec.Name)
	}
	sort.Strings(r.names)
	return r
}

// Build configures every spec from the environment and constructs its connector.
func Build(list []*Spec, getenv func(string) string, publicURL string, publicURLSet bool) (*Registry, error) {
	var ps []*Provider
	for _, s := range list {
		if err := checkSpec(s); err != nil {
			return nil, err
		}
		cfg, err := LoadConfig(s, getenv, publicURL, publicURLSet)
		if err != nil {
			return nil, err
		}
		c, err := s.New(cfg)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.Name, err)
		}
		ps = append(ps, &Provider{Spec: s, Config: cfg, Connector: c})
	}
	return NewRegistry(ps...), nil
}

// SweepsPerChannelLife is how many renewal sweep intervals the least
// channel life a provider may be configured with spans: the sweep renews a
// channel from two intervals before it expires (db.RenewWithin), so that
// two sweeps see it, one to try and one to retry, and not before it has
// lived one.
const SweepsPerChannelLife = 3

// CheckChannelLives refuses a channel life a provider asks for
// (ChannelLifer) shorter than SweepsPerChannelLife renewal sweep
// intervals: interval, read from intervalVar. The sweep could not see such
// a channel twice before it expires; one shorter than the interval it
// could not keep alive at all. The error names both variables.
func (r *Registry) CheckChannelLives(interval time.Duration, intervalVar string) error {
	for _, p := range r.Providers() {
		l, ok := p.Connector.(ChannelLifer)
		if !ok {
			continue
		}
		ttl, suffix := l.ChannelTTL()
		if least := SweepsPerChannelLife * interval; ttl < least {
			return fmt.Errorf("%s (%s) must be at least %d × %s (%s), %s, for two renewal sweeps to see each channel before it expires; raise it, or shorten %s",
				p.Config.SettingVar(suffix), goDurText(ttl), SweepsPerChannelLife, intervalVar, goDurText(interval), goDurText(least), intervalVar)
		}
	}
	return nil
}

// goDurText is durText in Go's notation, which CHANNEL_TTL reads (36h, not 1d12h).
func goDurText(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// Notices are what the start logs once about the providers'
// configuration, in provider order: shared variables set that a provider
// does not read (Setting.NoFallback). They name variables, never values.
func (r *Registry) Notices() []string {
	var out []string
	for _, p := range r.Providers() {
		out = append(out, p.Config.notices...)
	}
	return out
}

// Get returns a provider by name.
func (r *Registry) Get(name string) (*Provider, bool) {
	p, ok := r.providers[name]
	return p, ok
}

// Names returns provider names, sorted.
func (r *Registry) Names() []string { return append([]string(nil), r.names...) }

// Providers returns every provider, sorted by name.
func (r *Registry) Providers() []*Provider {
	out := make([]*Provider, 0, len(r.names))
	for _, n := range r.names {
		out = append(out, r.providers[n])
	}
	return out
}

// GrantSharers names the providers whose connections of an account hold
// the same grant as p's (Spec.GrantPerClient, the same OAuth client id), p
// included; nil when p's tokens are its own.
func (r *Registry) GrantSharers(p *Provider) []string {
	if !p.Spec.GrantPerClient || p.Config.ClientID == "" {
		return nil
	}
	var out []string
	for _, n := range r.names {
		if q := r.providers[n]; q.Spec.GrantPerClient && q.Config.ClientID == p.Config.ClientID {
			out = append(out, n)
		}
	}
	return out
}

// SetBaseTransport replaces the transport under every provider client (tests).
func (r *Registry) SetBaseTransport(rt http.RoundTripper) { r.base = rt }

// HTTPClient returns a client for calls on behalf of one external account:
// it sets the Authorization header from accessToken (empty: none), waits on
// the account's shared limiter, counts calls, and turns provider error
// responses into the neutral errors of this package.
func (r *Registry) HTTPClient(p *Provider, accountID, accessToken string) *http.Client {
	auth := ""
	if accessToken != "" {
		auth = "Bearer " + accessToken
		if a, ok := p.Connector.(Authenticator); ok {
			auth = a.AuthorizationHeader(accessToken)
		}
	}
	// A client for an account not yet known (a connect callback's
	// identify) has no budget: the budget is the account's, and one
	// shared by every such client would let one user's rate limit hold
	// every other user's connect.
	var budget *Budget
	if p.Spec.Policy.Budget && accountID != "" {
		budget = r.budgets.For(p.Spec.Name, accountID)
	}
	return &http.Client{
		Timeout: 60 * time.Second,
		Transport: &Transport{
			Base:     r.base,
			Provider: p.Spec.Name,
			Limiter:  r.limiters.For(p.Spec.Name, accountID, p.Spec.Policy),
			Budget:   budget,
			Auth:     auth,
			Classify: classifier(p),
		},
	}
}

// classifier is how p's answers map to neutral errors: its own Classifier,
// else ClassifyResponse.
func classifier(p *Provider) func(*http.Response) error {
	if c, ok := p.Connector.(Classifier); ok {
		return c.ClassifyResponse
	}
	return ClassifyResponse
}
