package githubsandbox

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/poblysh/poblysh/sandbox"
)

// RefreshTokenTTL is the lifetime GitHub states for ghr_ refresh tokens
// (refresh_token_expires_in); the sandbox reports it but does not enforce it.
const RefreshTokenTTL = 15811200

// DefaultScopes are granted by IssueToken when none are asked for.
var DefaultScopes = []string{"repo", "admin:repo_hook"}

// token serves POST /login/oauth/access_token: code exchange (with PKCE
// code_verifier) and, for GitHub App user tokens, the rotating refresh grant.
// Like GitHub it answers form-encoded unless Accept asks for JSON, and
// reports errors with HTTP 200 and an error field.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	params, err := tokenParams(r)
	if err != nil {
		http.Error(w, "cannot parse the request body", http.StatusBadRequest)
		return
	}
	id, secret := sandbox.ClientCredentials(r)
	if id == "" {
		id, secret = params.Get("client_id"), params.Get("client_secret")
	}
	if s.OAuth.CheckClient(id, secret) != nil {
		tokenError(w, r, "incorrect_client_credentials", "The client_id and/or client_secret passed are incorrect.")
		return
	}
	var ts *sandbox.TokenSet
	switch params.Get("grant_type") {
	case "refresh_token":
		if ts, err = s.OAuth.RefreshToken(id, params.Get("refresh_token")); err != nil {
			tokenError(w, r, "bad_refresh_token", "The refresh token passed is incorrect or expired.")
			return
		}
	case "", "authorization_code":
		ts, err = s.OAuth.Exchange(id, params.Get("code"), params.Get("redirect_uri"), params.Get("code_verifier"))
		var oe *sandbox.OAuthError
		switch {
		case errors.As(err, &oe) && strings.Contains(oe.Description, "redirect_uri"):
			tokenError(w, r, "redirect_uri_mismatch", "The redirect_uri MUST match the registered callback URL for this application.")
			return
		case err != nil:
			tokenError(w, r, "bad_verification_code", "The code passed is incorrect or expired.")
			return
		}
		s.keepToken(ts)
	default:
		tokenError(w, r, "unsupported_grant_type", "The grant type is not supported.")
		return
	}
	v := url.Values{"access_token": {ts.AccessToken}, "token_type": {"bearer"}, "scope": {""}}
	if s.opts.AccessTTL == 0 {
		v.Set("scope", strings.Join(ts.Scopes, ","))
	} else {
		v.Set("expires_in", strconv.Itoa(ts.ExpiresIn))
		v.Set("refresh_token", ts.RefreshToken)
		v.Set("refresh_token_expires_in", strconv.Itoa(RefreshTokenTTL))
	}
	writeToken(w, r, v)
}

// tokenParams merges query, form and JSON body parameters; GitHub accepts all three.
func tokenParams(r *http.Request) (url.Values, error) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "application/json" {
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			return nil, err
		}
		v := r.URL.Query()
		for k, val := range body {
			v.Set(k, fmt.Sprint(val))
		}
		return v, nil
	}
	if err := r.ParseForm(); err != nil {
		return nil, err
	}
	return r.Form, nil
}

func wantsJSON(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "application/json")
}

// writeToken answers with v as JSON (numbers as numbers) or form-encoded.
func writeToken(w http.ResponseWriter, r *http.Request, v url.Values) {
	if !wantsJSON(r) {
		w.Header().Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(v.Encode()))
		return
	}
	out := map[string]any{}
	for k := range v {
		if n, err := strconv.Atoi(v.Get(k)); err == nil && strings.HasSuffix(k, "expires_in") {
			out[k] = n
		} else {
			out[k] = v.Get(k)
		}
	}
	sandbox.WriteJSON(w, http.StatusOK, out)
}

func tokenError(w http.ResponseWriter, r *http.Request, code, desc string) {
	writeToken(w, r, url.Values{
		"error": {code}, "error_description": {desc},
		"error_uri": {"https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/#" + strings.ReplaceAll(code, "_", "-")},
	})
}

// appAuth checks the Basic client credentials of /applications/{client_id}/...
func (s *Server) appAuth(w http.ResponseWriter, r *http.Request) bool {
	id, secret, ok := r.BasicAuth()
	if !ok || id != r.PathValue("client_id") || s.OAuth.CheckClient(id, secret) != nil {
		writeGitHubError(w, http.StatusUnauthorized, "Bad credentials", "https://docs.github.com/rest")
		return false
	}
	return true
}

// keepToken records an OAuth App token a code exchange issued; past
// Options.TokensKept live ones for the same user, app and scopes, the
// oldest is revoked (GitHub: 10; GitHub App tokens have no such cap). A
// token revoked meanwhile no longer counts.
func (s *Server) keepToken(ts *sandbox.TokenSet) {
	if s.opts.AccessTTL > 0 {
		return
	}
	scopes := slices.Clone(ts.Scopes)
	slices.Sort(scopes)
	key := ts.Grant.UserID + "|" + ts.Grant.ClientID + "|" + strings.Join(scopes, ",")
	s.mu.Lock()
	defer s.mu.Unlock()
	s.issued[key] = slices.DeleteFunc(s.issued[key], func(t string) bool {
		_, err := s.OAuth.Check(t)
		return err != nil
	})
	s.issued[key] = append(s.issued[key], ts.AccessToken)
	for len(s.issued[key]) > cmp.Or(s.opts.TokensKept, 10) {
		s.OAuth.RevokeToken(s.issued[key][0])
		s.issued[key] = s.issued[key][1:]
	}
}

// revokeToken serves DELETE /applications/{client_id}/token with body
// {"access_token": "..."}: that one token is revoked ("revoke a single
// token"; the user's other tokens for the app live on): 204, or 404 when
// the token is unknown.
func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) {
	s.revoke(w, r, s.OAuth.RevokeToken)
}

// revokeGrant serves DELETE /applications/{client_id}/grant: every token of
// the user's authorization of the app is revoked.
func (s *Server) revokeGrant(w http.ResponseWriter, r *http.Request) {
	s.revoke(w, r, s.OAuth.Revoke)
}

// revoke checks a revocation request and revokes its access_token with
// revoke.
func (s *Server) revoke(w http.ResponseWriter, r *http.Request, revoke func(token string) bool) {
	if !s.appAuth(w, r) {
		return
	}
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.AccessToken == "" {
		writeGitHubError(w, http.StatusUnprocessableEntity, "Invalid request: access_token is required", "https://docs.github.com/rest/apps/oauth-applications#delete-an-app-token")
		return
	}
	if !revoke(body.AccessToken) {
		writeGitHubError(w, http.StatusNotFound, "Not Found", "https://docs.github.com/rest/apps/oauth-applications#delete-an-app-token")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// IssueToken runs the authorization code flow for login (SeedUser when
// empty) with scopes (DefaultScopes when none) and returns the tokens, as a
// shortcut for tests.
func (s *Server) IssueToken(login string, scopes ...string) (*sandbox.TokenSet, error) {
	if len(scopes) == 0 {
		scopes = DefaultScopes
	}
	const redirect = "http://localhost/callback"
	q := url.Values{
		"client_id": {s.opts.ClientID}, "redirect_uri": {redirect},
		"scope": {strings.Join(scopes, " ")}, "login": {cmpOr(login, SeedUser)},
	}
	rec := httptest.NewRecorder()
	s.OAuth.Authorize(rec, httptest.NewRequest(http.MethodGet, "/login/oauth/authorize?"+q.Encode(), nil))
	loc, err := url.Parse(rec.Header().Get("Location"))
	if err != nil || loc.Query().Get("code") == "" {
		return nil, fmt.Errorf("githubsandbox: authorization did not return a code (%d)", rec.Code)
	}
	ts, err := s.OAuth.Exchange(s.opts.ClientID, loc.Query().Get("code"), redirect, "")
	if err != nil {
		return nil, err
	}
	s.keepToken(ts)
	return ts, nil
}
