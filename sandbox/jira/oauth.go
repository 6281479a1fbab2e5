package jirasandbox

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"time"

	"github.com/poblysh/poblysh/sandbox"
)

// authorize is auth.atlassian.com/authorize: it insists on what 3LO
// requires (audience=api.atlassian.com, response_type=code), then
// auto-approves like the consent screen (?login=grace signs in as another
// user).
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("audience") != "api.atlassian.com" || q.Get("response_type") != "code" {
		http.Error(w, "audience=api.atlassian.com and response_type=code are required", http.StatusBadRequest)
		return
	}
	if u := q.Get("login"); u != "" && people[u] == nil {
		http.Error(w, "unknown user "+u, http.StatusBadRequest)
		return
	}
	s.OAuth.Authorize(w, r)
}

// token is POST /oauth/token with a JSON body. Errors are Atlassian's:
// invalid_grant with 403 (a spent, revoked or unknown refresh token, or a
// bad code), invalid_client with 401.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	var in struct {
		GrantType    string `json:"grant_type"`
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
		Code         string `json:"code"`
		RedirectURI  string `json:"redirect_uri"`
		RefreshToken string `json:"refresh_token"`
	}
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		tokenError(w, http.StatusBadRequest, sandbox.ErrBadRequest)
		return
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&in); err != nil {
		tokenError(w, http.StatusBadRequest, sandbox.ErrBadRequest)
		return
	}
	if err := s.OAuth.CheckClient(in.ClientID, in.ClientSecret); err != nil {
		tokenError(w, http.StatusUnauthorized, sandbox.ErrInvalidClient)
		return
	}
	var ts *sandbox.TokenSet
	var err error
	switch in.GrantType {
	case "authorization_code":
		ts, err = s.OAuth.Exchange(in.ClientID, in.Code, in.RedirectURI, "")
	case "refresh_token":
		ts, err = s.OAuth.RefreshToken(in.ClientID, in.RefreshToken)
		if errors.Is(err, sandbox.ErrInvalidGrant) {
			err = &sandbox.OAuthError{Code: "invalid_grant", Description: "Unknown or invalid refresh token."}
		}
	default:
		err = &sandbox.OAuthError{Code: "unsupported_grant_type", Description: "grant_type must be authorization_code or refresh_token"}
	}
	var oe *sandbox.OAuthError
	if errors.As(err, &oe) {
		status := http.StatusForbidden
		if oe.Code != "invalid_grant" {
			status = http.StatusBadRequest
		}
		tokenError(w, status, oe)
		return
	}
	if err != nil {
		tokenError(w, http.StatusInternalServerError, &sandbox.OAuthError{Code: "server_error", Description: err.Error()})
		return
	}
	sandbox.WriteJSON(w, http.StatusOK, map[string]any{
		"access_token": ts.AccessToken, "refresh_token": ts.RefreshToken, "expires_in": ts.ExpiresIn,
		"token_type": "Bearer", "scope": strings.Join(ts.Scopes, " "),
	})
}

func tokenError(w http.ResponseWriter, status int, e *sandbox.OAuthError) {
	sandbox.WriteJSON(w, status, map[string]string{"error": e.Code, "error_description": e.Description})
}

// accessibleResources lists the sites the token's user reaches, with the
// Jira scopes granted.
func (s *Server) accessibleResources(w http.ResponseWriter, r *http.Request) {
	g, err := s.OAuth.Check(sandbox.BearerToken(r, "Bearer"))
	p := people[g.UserID]
	if err != nil || p == nil {
		sandbox.WriteJSON(w, http.StatusUnauthorized, map[string]any{"code": 401, "message": "Unauthorized"})
		return
	}
	var scopes []string
	for _, sc := range g.Scopes {
		if strings.Contains(sc, "jira") {
			scopes = append(scopes, sc)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []map[string]any{}
	for _, id := range p.Sites {
		st := s.sites[id]
		out = append(out, map[string]any{
			"id": st.ID, "url": st.URL, "name": st.Name, "scopes": scopes,
			"avatarUrl": "https://site-admin-avatar-cdn.prod.public.atl-paas.net/avatars/240/rocket.png",
		})
	}
	sandbox.WriteJSON(w, http.StatusOK, out)
}

// SpendRefreshTokens rotates every live refresh token as if another client
// had used it ago earlier and kept the answer: the service's stored token
// is then a reused one, inside the 10-minute leeway or outside it.
func (s *Server) SpendRefreshTokens(ago time.Duration) {
	s.OAuth.MarkRotated(s.now().Add(-ago))
}

// IssueToken runs the consent and code exchange for a user (a login; ""
// is DefaultUser) without a browser and returns the tokens, for tests.
func (s *Server) IssueToken(login string) (*sandbox.TokenSet, error) {
	q := url.Values{"client_id": {s.opts.ClientID}, "redirect_uri": {"https://poblysh.example/callback"},
		"response_type": {"code"}, "audience": {"api.atlassian.com"}, "scope": {"read:jira-work read:jira-user manage:jira-webhook offline_access"}}
	if login != "" {
		q.Set("login", login)
	}
	rec := httptest.NewRecorder()
	s.authorize(rec, httptest.NewRequest(http.MethodGet, "/authorize?"+q.Encode(), nil))
	loc, err := url.Parse(rec.Header().Get("Location"))
	if err != nil || loc.Query().Get("code") == "" {
		return nil, errors.New("jirasandbox: authorize did not redirect with a code")
	}
	return s.OAuth.Exchange(s.opts.ClientID, loc.Query().Get("code"), "https://poblysh.example/callback", "")
}
