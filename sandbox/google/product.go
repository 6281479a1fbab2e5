package googlesandbox

import (
	"net/http"

	"github.com/poblysh/poblysh/sandbox"
)

// Product is what the fakes of Google's APIs (Calendar, Drive, Gmail)
// share, embedded in each: Google's accounts server, the sandbox base
// (faults answered with Google's error bodies; push deliveries retried
// three times with backoff on a 5xx, as Google and Pub/Sub retry), the
// routing of the product's API under its path prefix, and the accessors
// tests use.
type Product struct {
	// Base holds the OAuth server, fault queue and deliverer.
	Base *sandbox.Base
	// OAuth is Google's accounts server (authorize, token, revoke,
	// userinfo, granular consent).
	OAuth *OAuth
	// DefaultScopes are what AccessToken grants when asked for none.
	DefaultScopes []string
}

// NewProduct starts the accounts server for o (its Options give the
// defaults it filled in).
func NewProduct(o OAuthOptions, defaultScopes []string) *Product {
	oauth := NewOAuth(o)
	p := &Product{Base: sandbox.NewBase(oauth.Server), OAuth: oauth, DefaultScopes: defaultScopes}
	p.Base.Faults.DefaultBody = FaultBody
	p.Base.Deliverer.Retries = 3
	return p
}

// Mount serves on mux the accounts server, the product's API (api, under
// prefix such as "/drive/v3/", behind the fault queue; a path api does not
// know answers Google's 404), the sandbox's control routes and the consent
// page at consentPath.
func (p *Product) Mount(mux *http.ServeMux, prefix string, api *http.ServeMux, consentPath string) {
	p.OAuth.Routes(mux)
	api.HandleFunc(prefix, func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, http.StatusNotFound, "notFound", "Not Found")
	})
	mux.Handle(prefix, p.Base.Faults.Middleware(api))
	p.Base.ControlRoutes(mux)
	p.OAuth.ConsentRoute(mux, consentPath)
}

// User returns the email of the default user.
func (p *Product) User() string { return p.OAuth.User() }

// ClientID returns the accepted OAuth client id.
func (p *Product) ClientID() string { return p.OAuth.ClientID() }

// AccessToken authorizes user ("" for the default user) with scopes
// (DefaultScopes when none) in-process and returns the access token, for
// tests that need an authorized API client.
func (p *Product) AccessToken(user string, scopes ...string) string {
	if len(scopes) == 0 {
		scopes = p.DefaultScopes
	}
	return p.OAuth.AccessToken(user, scopes...)
}

// DeclineNext makes the next authorization approve everything asked except
// scopes, as a user does who unticks them on Google's granular consent
// screen.
func (p *Product) DeclineNext(scopes ...string) error { return p.OAuth.DeclineNext(scopes...) }

// IssuedTokens implements sandbox.Issuer: every access and refresh token
// the accounts server issued.
func (p *Product) IssuedTokens() []string { return p.Base.OAuth.Issued() }
