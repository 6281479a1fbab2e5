// Package googlesandbox holds what the Google fakes (google-calendar,
// google-drive, gmail) share: Google's OAuth endpoints with granular
// consent and OpenID id_tokens, API authentication with scope checks,
// Google-shaped error bodies and rate-limit faults, and watch channels with
// their bodiless push notifications. Each fake embeds these pieces and
// serves its own API on top.
package googlesandbox

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/poblysh/poblysh/sandbox"
)

// Defaults used when OAuthOptions leave a field empty.
const (
	DefaultUser         = "ada@example.com"
	DefaultClientID     = "1093712342424-sandbox.apps.googleusercontent.com"
	DefaultClientSecret = "GOCSPX-sandbox-client-secret"
	DefaultAccessTTL    = 3599 * time.Second
)

// OAuthOptions configure an OAuth server.
type OAuthOptions struct {
	// ClientID and ClientSecret are the only OAuth client accepted.
	ClientID, ClientSecret string
	// AccessTTL is the access token lifetime (default 3599 s, like Google).
	AccessTTL time.Duration
	// User is the email of the user an authorization grants.
	User string
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// OAuth is Google's OAuth 2.0 and OpenID side: authorize (with granular
// consent), token (refresh token only for offline access with consent,
// never rotated), revoke and userinfo, on the shared sandbox.OAuth.
type OAuth struct {
	// Server is the shared authorization server (codes, tokens, PKCE).
	Server *sandbox.OAuth
	opts   OAuthOptions

	mu      sync.Mutex
	codes   map[string]codeOptions
	decline []string // scopes the next authorization leaves out (DeclineNext)
	// accounts maps an address an account was renamed to (or from) to the
	// account's first address, which its subject derives from; primary
	// maps that first address to the current one (Rename).
	accounts, primary map[string]string
}

// codeOptions remembers what an authorization asked for, keyed by its code.
type codeOptions struct {
	offline bool // access_type=offline
	consent bool // prompt included consent
	nonce   string
}

// NewOAuth builds the OAuth side of a Google fake.
func NewOAuth(o OAuthOptions) *OAuth {
	if o.ClientID == "" {
		o.ClientID = DefaultClientID
	}
	if o.ClientSecret == "" {
		o.ClientSecret = DefaultClientSecret
	}
	if o.AccessTTL <= 0 {
		o.AccessTTL = DefaultAccessTTL
	}
	if o.User == "" {
		o.User = DefaultUser
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &OAuth{
		Server: &sandbox.OAuth{
			Clients:       map[string]string{o.ClientID: o.ClientSecret},
			AccessTTL:     o.AccessTTL,
			Refresh:       true,
			RotateRefresh: false,
			TokenPrefix:   "ya29.a0",
			RefreshPrefix: "1//0g",
			DefaultUser:   o.User,
			Now:           o.Now,
		},
		opts:     o,
		codes:    map[string]codeOptions{},
		accounts: map[string]string{},
		primary:  map[string]string{},
	}
}

// Routes mounts Google's OAuth endpoints on mux:
//
//	GET  /o/oauth2/v2/auth   authorize
//	POST /token              code exchange and refresh
//	POST /revoke             token revocation
//	GET  /v1/userinfo        OpenID userinfo
func (o *OAuth) Routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /o/oauth2/v2/auth", o.authorize)
	mux.HandleFunc("POST /token", o.token)
	mux.HandleFunc("POST /revoke", o.revoke)
	mux.HandleFunc("GET /v1/userinfo", o.userinfo)
}

// Env returns the OAuth endpoint variables of a Google provider (prefix
// "POBLYSH_GMAIL_") served at base.
func (o *OAuth) Env(prefix, base string) map[string]string {
	base = strings.TrimRight(base, "/")
	return map[string]string{
		prefix + "CLIENT_ID":     o.opts.ClientID,
		prefix + "CLIENT_SECRET": o.opts.ClientSecret,
		prefix + "AUTH_URL":      base + "/o/oauth2/v2/auth",
		prefix + "TOKEN_URL":     base + "/token",
		prefix + "REVOKE_URL":    base + "/revoke",
		prefix + "USERINFO_URL":  base + "/v1/userinfo",
	}
}

// Options returns the options with their defaults resolved.
func (o *OAuth) Options() OAuthOptions { return o.opts }

// User returns the email of the default user.
func (o *OAuth) User() string { return o.opts.User }

// ClientID returns the accepted OAuth client id.
func (o *OAuth) ClientID() string { return o.opts.ClientID }

// ClientSecret returns the accepted OAuth client secret.
func (o *OAuth) ClientSecret() string { return o.opts.ClientSecret }

// signInScopes are consented as a block on Google's first screen; only the
// other scopes get a checkbox on the granular consent screen.
var signInScopes = map[string]bool{"openid": true, "email": true, "profile": true,
	"https://www.googleapis.com/auth/userinfo.email": true, "https://www.googleapis.com/auth/userinfo.profile": true}

// fullScopeNames are the names Google's token endpoint reports for the
// sign-in scopes asked by their short names.
var fullScopeNames = map[string]string{
	"email":   "https://www.googleapis.com/auth/userinfo.email",
	"profile": "https://www.googleapis.com/auth/userinfo.profile",
}

// DeclineNext makes the next authorization approve everything asked except
// scopes, as a user does who unticks them on Google's granular consent
// screen. Sign-in scopes (openid, email, profile) have no checkbox and
// cannot be declined.
func (o *OAuth) DeclineNext(scopes ...string) error {
	for _, sc := range scopes {
		if signInScopes[sc] {
			return fmt.Errorf("googlesandbox: %s is a sign-in scope: Google's consent screen offers no checkbox for it", sc)
		}
	}
	o.mu.Lock()
	o.decline = append([]string(nil), scopes...)
	o.mu.Unlock()
	return nil
}

// approved applies a pending DeclineNext to the asked scopes (and spends it).
func (o *OAuth) approved(asked string) string {
	o.mu.Lock()
	decline := o.decline
	o.decline = nil
	o.mu.Unlock()
	var out []string
	for _, sc := range strings.Fields(asked) {
		if !slices.Contains(decline, sc) {
			out = append(out, sc)
		}
	}
	return strings.Join(out, " ")
}

// authorize is Google's authorization endpoint: it checks the parameters
// Google requires, then lets the shared OAuth server auto-approve (or deny:
// ?deny, /_sandbox/oauth/deny-next) what the user approves (DeclineNext
// models a user who unticks scopes) and remembers access_type and prompt,
// which decide whether the code exchange returns a refresh token.
func (o *OAuth) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	switch {
	case q.Get("client_id") == "":
		http.Error(w, "Error 400: invalid_request\nMissing required parameter: client_id", http.StatusBadRequest)
		return
	case q.Get("response_type") != "code":
		http.Error(w, "Error 400: unsupported_response_type\nresponse_type must be code", http.StatusBadRequest)
		return
	case strings.TrimSpace(q.Get("scope")) == "":
		http.Error(w, "Error 400: invalid_request\nMissing required parameter: scope", http.StatusBadRequest)
		return
	case q.Get("code_challenge") != "" && q.Get("code_challenge_method") != "S256" && q.Get("code_challenge_method") != "plain":
		http.Error(w, "Error 400: invalid_request\nInvalid code_challenge_method", http.StatusBadRequest)
		return
	}
	q.Set("scope", o.approved(q.Get("scope")))
	r = r.Clone(r.Context())
	r.URL.RawQuery = q.Encode()
	rec := httptest.NewRecorder()
	o.Server.Authorize(rec, r)
	if loc, err := url.Parse(rec.Header().Get("Location")); err == nil {
		if code := loc.Query().Get("code"); code != "" {
			o.mu.Lock()
			o.codes[code] = codeOptions{
				offline: q.Get("access_type") == "offline",
				consent: strings.Contains(q.Get("prompt"), "consent"),
				nonce:   q.Get("nonce"),
			}
			o.mu.Unlock()
		}
	}
	for k, vs := range rec.Header() {
		w.Header()[k] = vs
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

// tokenResponse is Google's token endpoint answer.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope"`
	TokenType    string `json:"token_type"`
	IDToken      string `json:"id_token,omitempty"`
}

func oauthError(w http.ResponseWriter, status int, code, desc string) {
	sandbox.WriteJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

// token is the token endpoint: authorization_code (refresh token only for
// access_type=offline with prompt=consent; real Google also returns one on
// a user's very first consent) and refresh_token (not rotated: the answer
// has no refresh_token).
func (o *OAuth) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "Malformed request body.")
		return
	}
	id, secret := sandbox.ClientCredentials(r)
	if err := o.Server.CheckClient(id, secret); err != nil {
		oauthError(w, http.StatusUnauthorized, "invalid_client", "Unauthorized")
		return
	}
	var (
		ts   *sandbox.TokenSet
		err  error
		opts codeOptions
	)
	switch gt := r.PostFormValue("grant_type"); gt {
	case "authorization_code":
		code := r.PostFormValue("code")
		ts, err = o.Server.Exchange(id, code, r.PostFormValue("redirect_uri"), r.PostFormValue("code_verifier"))
		o.mu.Lock()
		opts = o.codes[code]
		delete(o.codes, code)
		o.mu.Unlock()
		if err == nil && !(opts.offline && opts.consent) {
			ts.RefreshToken = ""
		}
	case "refresh_token":
		ts, err = o.Server.RefreshToken(id, r.PostFormValue("refresh_token"))
		if err == nil {
			ts.RefreshToken = ""
		}
	default:
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "Invalid grant_type: "+gt)
		return
	}
	if err != nil {
		desc := "Token has been expired or revoked."
		var oe *sandbox.OAuthError
		if errors.As(err, &oe) && oe != sandbox.ErrInvalidGrant {
			desc = oe.Description
		} else if r.PostFormValue("grant_type") == "authorization_code" {
			desc = "Bad Request"
		}
		oauthError(w, http.StatusBadRequest, "invalid_grant", desc)
		return
	}
	granted := make([]string, 0, len(ts.Scopes))
	for _, sc := range ts.Scopes {
		if full, ok := fullScopeNames[sc]; ok {
			sc = full
		}
		granted = append(granted, sc)
	}
	resp := tokenResponse{
		AccessToken: ts.AccessToken, ExpiresIn: ts.ExpiresIn, RefreshToken: ts.RefreshToken,
		Scope: strings.Join(granted, " "), TokenType: "Bearer",
	}
	if slices.Contains(ts.Scopes, "openid") {
		resp.IDToken = o.idToken(ts.Grant, opts.nonce)
	}
	w.Header().Set("Cache-Control", "no-cache, no-store, max-age=0, must-revalidate")
	sandbox.WriteJSON(w, http.StatusOK, resp)
}

// idToken is an OpenID Connect id_token for g. Its signature is a dummy:
// clients that received it from the token endpoint over TLS need not
// verify it (the Pub/Sub push tokens of the Gmail fake are really signed).
func (o *OAuth) idToken(g sandbox.Grant, nonce string) string {
	now := o.opts.Now().UTC()
	header := map[string]string{"alg": "RS256", "kid": "sandbox-unsigned", "typ": "JWT"}
	claims := map[string]any{
		"iss": "https://accounts.google.com", "azp": g.ClientID, "aud": g.ClientID,
		"sub": Subject(o.Account(g.UserID)), "email": o.Address(g.UserID), "email_verified": true,
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}
	if nonce != "" {
		claims["nonce"] = nonce
	}
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	enc := base64.RawURLEncoding.EncodeToString
	return enc(h) + "." + enc(c) + "." + enc([]byte("sandbox signature, not verifiable"))
}

// Subject is the stable OpenID subject ("sub") of a sandbox user: 21
// digits, like Google's account ids.
func Subject(email string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(email)))
	n := new(big.Int).SetBytes(sum[:9])
	return fmt.Sprintf("1%020s", n.String())[:21]
}

// Rename gives the account of address from the primary address to, as a
// Workspace admin renames a user: the account (its OpenID subject, its
// grants and tokens) stays the same, the user signs in as to, and from
// becomes an alias. id_tokens and userinfo then name to, with the
// account's subject; an authorization as either address is the account's.
// It fails when to is another renamed account's address (the caller
// checks the addresses its product knows).
func (o *OAuth) Rename(from, to string) error {
	from, to = strings.ToLower(strings.TrimSpace(from)), strings.ToLower(strings.TrimSpace(to))
	if !strings.Contains(to, "@") {
		return fmt.Errorf("googlesandbox: rename: %q is not an address", to)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	acct := o.accountLocked(from)
	if other := o.accounts[to]; other != "" && other != acct {
		return fmt.Errorf("googlesandbox: rename: %s is another account's address", to)
	}
	o.accounts[from], o.accounts[to] = acct, acct
	o.primary[acct] = to
	return nil
}

// Account is the account an address names: its first address (from which
// its subject derives), whatever it was renamed to since.
func (o *OAuth) Account(address string) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.accountLocked(address)
}

func (o *OAuth) accountLocked(address string) string {
	address = strings.ToLower(address)
	if a := o.accounts[address]; a != "" {
		return a
	}
	return address
}

// Address is the current primary address of the account address names
// (address itself unless the account was renamed).
func (o *OAuth) Address(address string) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	acct := o.accountLocked(address)
	if p := o.primary[acct]; p != "" {
		return p
	}
	return address
}

// revoke is Google's revocation endpoint (token in the form or the query).
func (o *OAuth) revoke(w http.ResponseWriter, r *http.Request) {
	tok := r.PostFormValue("token")
	if tok == "" {
		tok = r.URL.Query().Get("token")
	}
	if tok == "" || !o.Server.Revoke(tok) {
		oauthError(w, http.StatusBadRequest, "invalid_token", "Token expired or revoked")
		return
	}
	sandbox.WriteJSON(w, http.StatusOK, map[string]any{})
}

// userinfo is the OpenID userinfo endpoint; the email needs the email scope.
func (o *OAuth) userinfo(w http.ResponseWriter, r *http.Request) {
	g, err := o.Server.Check(sandbox.BearerToken(r, "Bearer"))
	if err != nil {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		sandbox.WriteJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_request", "error_description": "Invalid Credentials"})
		return
	}
	info := map[string]any{"sub": Subject(o.Account(g.UserID))}
	for _, sc := range g.Scopes {
		if sc == "email" || sc == "https://www.googleapis.com/auth/userinfo.email" {
			info["email"], info["email_verified"] = o.Address(g.UserID), true
		}
	}
	sandbox.WriteJSON(w, http.StatusOK, info)
}

// AccessToken runs an authorization for user ("" is the default user)
// with scopes in-process and returns the access token, for tests that need
// an authorized API client.
func (o *OAuth) AccessToken(user string, scopes ...string) string {
	q := url.Values{
		"client_id": {o.opts.ClientID}, "redirect_uri": {"http://localhost/callback"},
		"response_type": {"code"}, "scope": {strings.Join(scopes, " ")},
	}
	if user != "" {
		q.Set("login", user)
	}
	rec := httptest.NewRecorder()
	o.Server.Authorize(rec, httptest.NewRequest(http.MethodGet, "/o/oauth2/v2/auth?"+q.Encode(), nil))
	loc, err := url.Parse(rec.Header().Get("Location"))
	if err != nil {
		panic("googlesandbox: authorize: " + err.Error())
	}
	ts, err := o.Server.Exchange(o.opts.ClientID, loc.Query().Get("code"), "http://localhost/callback", "")
	if err != nil {
		panic("googlesandbox: exchange: " + err.Error())
	}
	return ts.AccessToken
}

// Grant authenticates an API call and checks that its token carries one of
// scopes, answering 401/403 like Google when it does not.
func (o *OAuth) Grant(w http.ResponseWriter, r *http.Request, scopes []string) (sandbox.Grant, bool) {
	tok := sandbox.BearerToken(r, "Bearer")
	if tok == "" {
		WriteError(w, http.StatusUnauthorized, "required", "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential.")
		return sandbox.Grant{}, false
	}
	g, err := o.Server.Check(tok)
	if err != nil {
		WriteError(w, http.StatusUnauthorized, "authError", "Invalid Credentials")
		return sandbox.Grant{}, false
	}
	for _, sc := range g.Scopes {
		if slices.Contains(scopes, sc) {
			return g, true
		}
	}
	WriteError(w, http.StatusForbidden, "insufficientPermissions", "Request had insufficient authentication scopes.")
	return sandbox.Grant{}, false
}

// ConsentRoute mounts POST <path> {"decline": [scope, …]}: the next
// authorization leaves those scopes out.
func (o *OAuth) ConsentRoute(mux *http.ServeMux, path string) {
	mux.HandleFunc("POST "+path, func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Decline []string `json:"decline"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			sandbox.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": `body must be {"decline": ["<scope>", ...]}`})
			return
		}
		if err := o.DeclineNext(body.Decline...); err != nil {
			sandbox.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}
