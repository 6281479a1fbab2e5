package sandbox

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// OAuthError is an RFC 6749 error response.
type OAuthError struct {
	Code        string
	Description string
}

func (e *OAuthError) Error() string { return e.Code + ": " + e.Description }

// Errors the fakes answer with.
var (
	ErrInvalidGrant  = &OAuthError{"invalid_grant", "the code or refresh token is invalid, expired or revoked"}
	ErrInvalidClient = &OAuthError{"invalid_client", "client authentication failed"}
	ErrBadRequest    = &OAuthError{"invalid_request", "a required parameter is missing"}
)

// Grant is what a token authorizes: a user of the fake provider.
type Grant struct {
	ClientID string
	UserID   string
	Scopes   []string
}

// TokenSet is issued on code exchange and refresh.
type TokenSet struct {
	AccessToken  string
	RefreshToken string
	ExpiresIn    int // seconds; 0 when the token does not expire
	Scopes       []string
	Grant        Grant
}

type codeInfo struct {
	grant       Grant
	redirectURI string
	challenge   string
	method      string
	expires     time.Time
	used        bool
}

type accessInfo struct {
	grant   Grant
	expires time.Time // zero: never
	revoked bool
}

type refreshInfo struct {
	grant Grant
	// access is the access token issued with this refresh token.
	access  string
	revoked bool
	// rotated is when a rotating refresh replaced this token (zero: never).
	rotated time.Time
}

// OAuth is a small OAuth 2.0 authorization server. Safe for concurrent use.
type OAuth struct {
	// Clients maps client id to secret; empty accepts any pair.
	Clients map[string]string
	// AccessTTL is the access token lifetime; 0 means tokens never expire.
	AccessTTL time.Duration
	// Refresh enables refresh tokens; RotateRefresh issues a new one on each
	// refresh and revokes the old (GitHub App, Slack rotation).
	Refresh       bool
	RotateRefresh bool
	// ReuseLeeway lets a rotated refresh token be used again for this long
	// after its rotation (Jira: 10 minutes); a later reuse revokes every
	// refresh token of the grant. Zero: a rotated token is rejected at once.
	ReuseLeeway time.Duration
	// RevokeAccessOnRefresh: spending a refresh token also revokes the
	// access token issued with it (GitHub: "Once you use a refresh token,
	// that refresh token and the old user access token will no longer
	// work."). Slack and Atlassian document no such thing: their old
	// access tokens live until they expire.
	RevokeAccessOnRefresh bool
	// TokenPrefix starts every access token ("gho_", "xoxb-", "ya29.").
	TokenPrefix   string
	RefreshPrefix string
	// DefaultUser is the user an auto-approved authorization grants.
	DefaultUser string
	Now         func() time.Time

	mu       sync.Mutex
	codes    map[string]*codeInfo
	access   map[string]*accessInfo
	refresh  map[string]*refreshInfo
	denyNext bool
	// Exchanges and Refreshes count token endpoint successes (for tests).
	Exchanges, Refreshes int
}

func (o *OAuth) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

func (o *OAuth) init() {
	if o.codes == nil {
		o.codes = map[string]*codeInfo{}
		o.access = map[string]*accessInfo{}
		o.refresh = map[string]*refreshInfo{}
	}
}

// CheckClient authenticates a client; constant time.
func (o *OAuth) CheckClient(id, secret string) error {
	if len(o.Clients) == 0 {
		if id == "" {
			return ErrInvalidClient
		}
		return nil
	}
	want, ok := o.Clients[id]
	if !ok || subtle.ConstantTimeCompare([]byte(want), []byte(secret)) != 1 {
		return ErrInvalidClient
	}
	return nil
}

// DenyNext makes the next authorization answer error=access_denied.
func (o *OAuth) DenyNext() {
	o.mu.Lock()
	o.denyNext = true
	o.mu.Unlock()
}

// Authorize handles the browser authorize endpoint: it auto-approves and
// redirects back with a code, or with error=access_denied when the request
// carries ?deny or DenyNext was called.
func (o *OAuth) Authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	redirect := q.Get("redirect_uri")
	ru, err := url.Parse(redirect)
	if redirect == "" || err != nil || ru.Scheme == "" {
		http.Error(w, "redirect_uri is required", http.StatusBadRequest)
		return
	}
	clientID := q.Get("client_id")
	if _, known := o.Clients[clientID]; len(o.Clients) > 0 && !known {
		http.Error(w, "unknown client_id", http.StatusBadRequest)
		return
	}
	back := ru.Query()
	if st := q.Get("state"); st != "" {
		back.Set("state", st)
	}
	o.mu.Lock()
	o.init()
	deny := o.denyNext || q.Has("deny")
	o.denyNext = false
	if deny {
		o.mu.Unlock()
		back.Set("error", "access_denied")
		back.Set("error_description", "The user denied the request")
		ru.RawQuery = back.Encode()
		http.Redirect(w, r, ru.String(), http.StatusFound)
		return
	}
	user := q.Get("login")
	if user == "" {
		user = o.DefaultUser
	}
	code := randomString(20)
	o.codes[code] = &codeInfo{
		grant:       Grant{ClientID: clientID, UserID: user, Scopes: splitScopes(q.Get("scope"))},
		redirectURI: redirect,
		challenge:   q.Get("code_challenge"),
		method:      q.Get("code_challenge_method"),
		expires:     o.now().Add(10 * time.Minute),
	}
	o.mu.Unlock()
	back.Set("code", code)
	ru.RawQuery = back.Encode()
	http.Redirect(w, r, ru.String(), http.StatusFound)
}

func splitScopes(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' })
}

// Exchange redeems a code once. verifier is checked against an S256 or
// plain challenge when the authorization carried one.
func (o *OAuth) Exchange(clientID, code, redirectURI, verifier string) (*TokenSet, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.init()
	ci, ok := o.codes[code]
	if !ok || ci.used || o.now().After(ci.expires) || ci.grant.ClientID != clientID {
		return nil, ErrInvalidGrant
	}
	if redirectURI != "" && redirectURI != ci.redirectURI {
		return nil, &OAuthError{"invalid_grant", "redirect_uri does not match the authorization request"}
	}
	if ci.challenge != "" {
		if verifier == "" {
			return nil, &OAuthError{"invalid_grant", "code_verifier is required"}
		}
		got := verifier
		if ci.method == "S256" {
			sum := sha256.Sum256([]byte(verifier))
			got = base64.RawURLEncoding.EncodeToString(sum[:])
		}
		if subtle.ConstantTimeCompare([]byte(got), []byte(ci.challenge)) != 1 {
			return nil, &OAuthError{"invalid_grant", "code_verifier does not match"}
		}
	}
	ci.used = true
	o.Exchanges++
	return o.issueLocked(ci.grant, true), nil
}

// RefreshToken redeems a refresh token for a new access token.
func (o *OAuth) RefreshToken(clientID, refreshToken string) (*TokenSet, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.init()
	ri, ok := o.refresh[refreshToken]
	if !o.Refresh || !ok || ri.revoked || ri.grant.ClientID != clientID {
		return nil, ErrInvalidGrant
	}
	if !ri.rotated.IsZero() {
		switch {
		case o.ReuseLeeway == 0:
			return nil, ErrInvalidGrant // single use (GitHub App, Slack)
		case o.now().Sub(ri.rotated) > o.ReuseLeeway:
			o.revokeGrantLocked(ri.grant) // reuse after the leeway: the whole family goes (Jira)
			return nil, ErrInvalidGrant
		}
	}
	ts := o.issueLocked(ri.grant, o.RotateRefresh)
	if o.RotateRefresh {
		if ri.rotated.IsZero() {
			ri.rotated = o.now()
		}
		if ai := o.access[ri.access]; ai != nil && o.RevokeAccessOnRefresh {
			ai.revoked = true
		}
	} else {
		ts.RefreshToken = refreshToken
	}
	o.Refreshes++
	return ts, nil
}

func (o *OAuth) issueLocked(g Grant, newRefresh bool) *TokenSet {
	ts := &TokenSet{AccessToken: o.TokenPrefix + randomString(24), Scopes: g.Scopes, Grant: g}
	ai := &accessInfo{grant: g}
	if o.AccessTTL > 0 {
		ai.expires = o.now().Add(o.AccessTTL)
		ts.ExpiresIn = int(o.AccessTTL / time.Second)
	}
	o.access[ts.AccessToken] = ai
	if o.Refresh && newRefresh {
		ts.RefreshToken = o.RefreshPrefix + randomString(24)
		o.refresh[ts.RefreshToken] = &refreshInfo{grant: g, access: ts.AccessToken}
	}
	return ts
}

// ErrTokenInvalid is returned by Check for unknown, revoked or expired tokens.
var ErrTokenInvalid = errors.New("invalid or expired access token")

// Check validates an access token for an API call.
func (o *OAuth) Check(accessToken string) (Grant, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.init()
	ai, ok := o.access[accessToken]
	if !ok || ai.revoked || (!ai.expires.IsZero() && o.now().After(ai.expires)) {
		return Grant{}, ErrTokenInvalid
	}
	return ai.grant, nil
}

// BearerToken extracts the token of an "Authorization: Bearer" header (or
// the given scheme).
func BearerToken(r *http.Request, schemes ...string) string {
	h := r.Header.Get("Authorization")
	if len(schemes) == 0 {
		schemes = []string{"Bearer", "token"}
	}
	for _, s := range schemes {
		if len(h) > len(s)+1 && strings.EqualFold(h[:len(s)], s) && h[len(s)] == ' ' {
			return strings.TrimSpace(h[len(s)+1:])
		}
	}
	return ""
}

// Revoke revokes an access or refresh token; revoking either revokes the
// whole grant's tokens for that user (Google semantics, a superset of others).
func (o *OAuth) Revoke(token string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.init()
	var g *Grant
	if ai, ok := o.access[token]; ok {
		g = &ai.grant
	} else if ri, ok := o.refresh[token]; ok {
		g = &ri.grant
	}
	if g == nil {
		return false
	}
	user, client := g.UserID, g.ClientID
	for _, ai := range o.access {
		if ai.grant.UserID == user && ai.grant.ClientID == client {
			ai.revoked = true
		}
	}
	for _, ri := range o.refresh {
		if ri.grant.UserID == user && ri.grant.ClientID == client {
			ri.revoked = true
		}
	}
	return true
}

// RevokeToken revokes one access or refresh token and nothing else, as
// Zoho's /oauth/v2/token/revoke does (the user's other grants to the client
// live on); false when the token is unknown.
func (o *OAuth) RevokeToken(token string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.init()
	if ai, ok := o.access[token]; ok {
		ai.revoked = true
		return true
	}
	if ri, ok := o.refresh[token]; ok {
		ri.revoked = true
		return true
	}
	return false
}

// ExpireAccessTokens makes every issued access token expired now, so the
// next API call answers 401 and the client must refresh.
func (o *OAuth) ExpireAccessTokens() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.init()
	past := o.now().Add(-time.Second)
	for _, ai := range o.access {
		ai.expires = past
	}
}

func (o *OAuth) revokeGrantLocked(g Grant) {
	for _, ri := range o.refresh {
		if ri.grant.UserID == g.UserID && ri.grant.ClientID == g.ClientID {
			ri.revoked = true
		}
	}
}

// ForgetRefreshToken drops one issued refresh token, as if the provider
// lost its record of it after answering: the token is rejected from now
// on; the token it replaced is not touched.
func (o *OAuth) ForgetRefreshToken(token string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.init()
	delete(o.refresh, token)
}

// RevokeRefreshTokens revokes every refresh token (the user removed the app).
func (o *OAuth) RevokeRefreshTokens() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.init()
	for _, ri := range o.refresh {
		ri.revoked = true
	}
}

// ClientCredentials reads client id and secret from HTTP Basic auth or the
// form, as RFC 6749 §2.3.1 allows both.
func ClientCredentials(r *http.Request) (string, string) {
	if id, secret, ok := r.BasicAuth(); ok {
		return id, secret
	}
	return r.PostFormValue("client_id"), r.PostFormValue("client_secret")
}

// Issued returns every access and refresh token issued so far, so tests can
// assert none of them leaks into logs, responses or the database.
func (o *OAuth) Issued() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.init()
	var out []string
	for t := range o.access {
		out = append(out, t)
	}
	for t := range o.refresh {
		out = append(out, t)
	}
	return out
}

// MarkRotated marks every live refresh token as rotated at t, as if it had
// been spent then by a refresh whose answer went elsewhere: for a provider
// with a reuse leeway, its next use succeeds while t is within the leeway
// and revokes the grant's tokens after.
func (o *OAuth) MarkRotated(t time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.init()
	for _, ri := range o.refresh {
		if !ri.revoked && ri.rotated.IsZero() {
			ri.rotated = t
		}
	}
}
