package lifecycle

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/db"
)

// An authorization is bound to one browser by the start page. POST
// /connect answers its URL (GET …/start?session=…), never the provider's:
// the page names the tenant and the provider and binds the state to a
// cookie only a hash of which is stored; the browser continues to the
// provider only when the user clicks; the callback completes only with
// that cookie. The cookie itself is the HTTP layer's: the lifecycle sees
// the binding it carries through Browser.

// Browser reads the binding a request's browser carries for a pending
// authorization (the start page's cookie, named after the state): "" when
// it carries none.
type Browser func(st *db.OAuthState) string

// Authorization is a pending authorization: the start-page URL to send the
// user to, the OAuth state (for correlation) and when it expires.
type Authorization struct {
	URL       string
	State     string
	ExpiresAt time.Time
}

// Start begins connecting an account of p for the tenant: the provider
// must be configured, redirectURI allowed, and cfg valid for the provider.
// The config is proved only at completion, with the new token. A connect
// without a config (none, null or {}) stores none in its state, so that
// the callback can tell it from a config given (effectiveConfig): the
// account's live connection keeps its own, a new one gets the provider's
// default, which must exist (a provider whose config is required refuses
// the connect here, as before).
func (s *Service) Start(ctx context.Context, tenantID string, p *connectors.Provider, redirectURI string, cfg json.RawMessage) (*Authorization, error) {
	if !p.Configured() {
		return nil, notConfigured(p)
	}
	redirect, err := s.checkRedirect(redirectURI)
	if err != nil {
		return nil, err
	}
	if emptyConfig(cfg) {
		if _, err := validateConfig(p, nil); err != nil {
			return nil, err
		}
		cfg = nil
	} else if cfg, err = validateConfig(p, cfg); err != nil {
		return nil, err
	}
	return s.authorize(ctx, tenantID, p, redirect, cfg, "")
}

// emptyConfig reports whether a config as sent says nothing: none, null,
// or an object without a field.
func emptyConfig(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || string(t) == "null" {
		return true
	}
	var m map[string]json.RawMessage
	return json.Unmarshal(t, &m) == nil && m != nil && len(m) == 0
}

// Reconnect begins a re-authorization of a connection: its state is bound
// to the connection's tenant, provider and account. Completing it with the
// same account heals the connection in place; another account is refused.
func (s *Service) Reconnect(ctx context.Context, tenantID, id, redirectURI string) (*Authorization, error) {
	c, err := s.Find(ctx, tenantID, id)
	if err != nil {
		return nil, err
	}
	p, ok := s.Registry.Get(c.Provider)
	if !ok {
		return nil, &poblysh.Error{Code: poblysh.ECONFLICT, Message: "provider " + c.Provider + " is no longer available on this server"}
	}
	if !p.Configured() {
		return nil, notConfigured(p)
	}
	redirect, err := s.checkRedirect(redirectURI)
	if err != nil {
		return nil, err
	}
	return s.authorize(ctx, tenantID, p, redirect, nil, c.ID)
}

// authorize creates a pending authorization for the tenant (a state, a
// start-page session and, where the provider supports it, a PKCE
// verifier). The provider's authorization URL is built only at the click
// on the start page. connectionID binds a re-authorization to that
// connection.
func (s *Service) authorize(ctx context.Context, tenantID string, p *connectors.Provider, redirect string, cfg json.RawMessage, connectionID string) (*Authorization, error) {
	if _, ok := p.Connector.(connectors.Authorizer); !ok {
		return nil, &poblysh.Error{Code: poblysh.ECONFLICT, Message: p.Spec.Name + " does not connect with OAuth"}
	}
	ttl := s.StateTTL
	if ttl <= 0 {
		ttl = 10 * time.Minute
	}
	n := db.NewState{
		State: connectors.RandomToken(32), Session: connectors.RandomToken(32), Provider: p.Spec.Name,
		RedirectURI: redirect, Config: cfg, ConnectionID: connectionID, TTL: ttl,
	}
	if p.Spec.PKCE {
		n.Verifier = oauth2.GenerateVerifier()
	}
	var st *db.OAuthState
	err := s.DB.WithTenant(ctx, tenantID, func(tx *db.Tx) (err error) {
		st, err = tx.CreateState(ctx, s.KeyRing, n)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &Authorization{URL: p.Config.StartURL(p.Spec.Name) + "?session=" + url.QueryEscape(n.Session), State: n.State, ExpiresAt: st.ExpiresAt}, nil
}

// OpenPage is the start page being opened: it binds the pending
// authorization of session to the browser that opened it, withdrawing any
// earlier binding and click (the last browser to open the link is the only
// one that may continue, so a link preview fetched elsewhere does no harm).
// It returns the state and the binding the browser must carry from now on.
func (s *Service) OpenPage(ctx context.Context, p *connectors.Provider, session string) (*db.OAuthState, string, error) {
	binding := connectors.RandomToken(32)
	var st *db.OAuthState
	var bad error
	err := s.DB.WithSystem(ctx, func(tx *db.Tx) (err error) {
		if st, bad, err = tx.FindStateBySession(ctx, session, p.Spec.Name); err != nil || bad != nil {
			return err
		}
		return tx.BindState(ctx, st.ID, binding)
	})
	if err == nil && bad != nil {
		err = linkError(bad)
	}
	if err != nil {
		return nil, "", err
	}
	return st, binding, nil
}

// Approve is the click on the start page: from the bound browser only, it
// records the approval and returns the provider's authorization URL to
// send the browser to.
func (s *Service) Approve(ctx context.Context, p *connectors.Provider, session string, browser Browser) (string, error) {
	var st *db.OAuthState
	var bad error
	err := s.DB.WithSystem(ctx, func(tx *db.Tx) (err error) {
		if st, bad, err = tx.FindStateBySession(ctx, session, p.Spec.Name); err != nil || bad != nil {
			bad = linkError(bad)
			return err
		}
		if !st.Bound(browser(st)) {
			bad = errOtherBrowser(p)
			return nil
		}
		st, err = tx.ApproveState(ctx, s.KeyRing, st)
		return err
	})
	if err == nil {
		err = bad
	}
	if err != nil {
		return "", err
	}
	return providerURL(p, st), nil
}

// providerURL is the provider's authorization URL for an approved state.
func providerURL(p *connectors.Provider, st *db.OAuthState) string {
	auth := p.Connector.(connectors.Authorizer)
	opts := append([]oauth2.AuthCodeOption{}, auth.AuthCodeOptions()...)
	if st.Verifier != "" {
		opts = append(opts, oauth2.S256ChallengeOption(st.Verifier))
	}
	return auth.OAuth2Config(p.Config.CallbackURL(p.Spec.Name)).AuthCodeURL(st.State, opts...)
}

// errOtherBrowser explains a callback or click from a browser that did not
// open (or no longer holds) the start page.
func errOtherBrowser(p *connectors.Provider) error {
	return poblysh.Invalid("this authorization was not started in this browser, or it was opened again elsewhere: "+
		"open the link you were given in this browser and continue to "+p.Spec.DisplayName+" from there; nothing was connected", nil)
}

// linkError explains a start-page link that cannot be used (nil stays nil).
func linkError(bad error) error {
	if bad == nil {
		return nil
	}
	why := strings.TrimPrefix(poblysh.ErrorMessage(bad), "invalid OAuth state: ")
	return poblysh.Invalid("this link cannot be used ("+why+"); ask whoever sent it for a new one", nil)
}

// checkRedirect normalizes an optional redirect_uri against the allow-list.
func (s *Service) checkRedirect(raw string) (string, error) {
	if raw == "" {
		return "", nil
	}
	u, ok := redirectAllowed(s.RedirectAllowlist, raw)
	if !ok {
		return "", poblysh.Invalid("redirect_uri is not allowed", map[string]string{"redirect_uri": "must be on the origin of an entry of " +
			"POBLYSH_REDIRECT_ALLOWLIST, at its path or below it at a \"/\"; userinfo, dot segments and encoded slashes, dots or backslashes are refused"})
	}
	return u, nil
}

func notConfigured(p *connectors.Provider) error {
	env := "POBLYSH_" + p.Spec.EnvName()
	return &poblysh.Error{Code: poblysh.ECONFLICT, Message: p.Spec.DisplayName + " is not configured on this server: set " +
		env + "_CLIENT_ID and " + env + "_CLIENT_SECRET (see docs/providers/" + p.Spec.Name + ".md)"}
}

// validateConfig checks a provider config; a refused one is a 422
// validation_failed, a *ConfigError's fields named in the details.
func validateConfig(p *connectors.Provider, raw json.RawMessage) (json.RawMessage, error) {
	v, ok := p.Connector.(connectors.ConfigValidator)
	if !ok {
		if len(raw) == 0 {
			return json.RawMessage(`{}`), nil
		}
		return raw, nil
	}
	if len(raw) == 0 || string(raw) == "null" {
		raw = json.RawMessage(`{}`)
	}
	out, err := v.ValidateConfig(raw)
	if err != nil {
		// Well-formed JSON the provider's rules refuse: its schema broken
		// (422 validation_failed, as swagger.yml's rule for it says).
		var ce *connectors.ConfigError
		if errors.As(err, &ce) {
			return nil, &poblysh.Error{Code: poblysh.EVALIDATION, Message: "invalid " + p.Spec.Name + " config", Details: prefixKeys("config.", ce.Fields)}
		}
		return nil, &poblysh.Error{Code: poblysh.EVALIDATION, Message: "invalid " + p.Spec.Name + " config: " + err.Error(),
			Details: map[string]string{"config": err.Error()}}
	}
	return out, nil
}

func prefixKeys(prefix string, m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[prefix+k] = v
	}
	return out
}
