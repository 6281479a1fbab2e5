package gcalsandbox

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
	"strings"
	"time"

	"github.com/poblysh/poblysh/sandbox"
)

// codeOptions remembers what an authorization asked for, keyed by its code.
type codeOptions struct {
	offline bool // access_type=offline
	consent bool // prompt included consent
	nonce   string
}

// authorize is Google's authorization endpoint: it checks the parameters
// Google requires, then lets the shared OAuth server auto-approve (or deny:
// ?deny, /_sandbox/oauth/deny-next) and remembers access_type and prompt,
// which decide whether the code exchange returns a refresh token.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
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
	rec := httptest.NewRecorder()
	s.Base.OAuth.Authorize(rec, r)
	if loc, err := url.Parse(rec.Header().Get("Location")); err == nil {
		if code := loc.Query().Get("code"); code != "" {
			s.mu.Lock()
			s.codes[code] = codeOptions{
				offline: q.Get("access_type") == "offline",
				consent: strings.Contains(q.Get("prompt"), "consent"),
				nonce:   q.Get("nonce"),
			}
			s.mu.Unlock()
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
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "Malformed request body.")
		return
	}
	id, secret := sandbox.ClientCredentials(r)
	if err := s.Base.OAuth.CheckClient(id, secret); err != nil {
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
		ts, err = s.Base.OAuth.Exchange(id, code, r.PostFormValue("redirect_uri"), r.PostFormValue("code_verifier"))
		s.mu.Lock()
		opts = s.codes[code]
		delete(s.codes, code)
		s.mu.Unlock()
		if err == nil && !(opts.offline && opts.consent) {
			ts.RefreshToken = ""
		}
	case "refresh_token":
		ts, err = s.Base.OAuth.RefreshToken(id, r.PostFormValue("refresh_token"))
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
	resp := tokenResponse{
		AccessToken: ts.AccessToken, ExpiresIn: ts.ExpiresIn, RefreshToken: ts.RefreshToken,
		Scope: strings.Join(ts.Scopes, " "), TokenType: "Bearer",
	}
	for _, sc := range ts.Scopes {
		if sc == "openid" {
			resp.IDToken = s.idToken(ts.Grant, opts.nonce)
		}
	}
	w.Header().Set("Cache-Control", "no-cache, no-store, max-age=0, must-revalidate")
	sandbox.WriteJSON(w, http.StatusOK, resp)
}

// idToken is an OpenID Connect id_token for g. Its signature is a dummy: the
// sandbox has no published keys, and clients that received it from the
// token endpoint over TLS need not verify it.
func (s *Server) idToken(g sandbox.Grant, nonce string) string {
	now := s.now()
	header := map[string]string{"alg": "RS256", "kid": "sandbox-unsigned", "typ": "JWT"}
	claims := map[string]any{
		"iss": "https://accounts.google.com", "azp": g.ClientID, "aud": g.ClientID,
		"sub": Subject(g.UserID), "email": g.UserID, "email_verified": true,
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

// revoke is Google's revocation endpoint (token in the form or the query).
func (s *Server) revoke(w http.ResponseWriter, r *http.Request) {
	tok := r.PostFormValue("token")
	if tok == "" {
		tok = r.URL.Query().Get("token")
	}
	if tok == "" || !s.Base.OAuth.Revoke(tok) {
		oauthError(w, http.StatusBadRequest, "invalid_token", "Token expired or revoked")
		return
	}
	sandbox.WriteJSON(w, http.StatusOK, map[string]any{})
}

// userinfo is the OpenID userinfo endpoint; the email needs the email scope.
func (s *Server) userinfo(w http.ResponseWriter, r *http.Request) {
	g, err := s.Base.OAuth.Check(sandbox.BearerToken(r, "Bearer"))
	if err != nil {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		sandbox.WriteJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_request", "error_description": "Invalid Credentials"})
		return
	}
	info := map[string]any{"sub": Subject(g.UserID)}
	for _, sc := range g.Scopes {
		if sc == "email" || sc == "https://www.googleapis.com/auth/userinfo.email" {
			info["email"], info["email_verified"] = g.UserID, true
		}
	}
	sandbox.WriteJSON(w, http.StatusOK, info)
}

// AccessToken runs an authorization for the default user with scopes
// (DefaultScopes when none) in-process and returns the access token, for
// tests that need an authorized API client.
func (s *Server) AccessToken(scopes ...string) string {
	if len(scopes) == 0 {
		scopes = DefaultScopes
	}
	q := url.Values{
		"client_id": {s.opts.ClientID}, "redirect_uri": {"http://localhost/callback"},
		"response_type": {"code"}, "scope": {strings.Join(scopes, " ")},
	}
	rec := httptest.NewRecorder()
	s.Base.OAuth.Authorize(rec, httptest.NewRequest(http.MethodGet, "/o/oauth2/v2/auth?"+q.Encode(), nil))
	loc, err := url.Parse(rec.Header().Get("Location"))
	if err != nil {
		panic("gcalsandbox: authorize: " + err.Error())
	}
	ts, err := s.Base.OAuth.Exchange(s.opts.ClientID, loc.Query().Get("code"), "http://localhost/callback", "")
	if err != nil {
		panic("gcalsandbox: exchange: " + err.Error())
	}
	return ts.AccessToken
}
