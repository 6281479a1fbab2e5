package connectors

import (
	"fmt"
	"net/http"
	"sort"
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
