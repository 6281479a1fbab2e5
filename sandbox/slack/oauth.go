package slacksandbox

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"

	"github.com/poblysh/poblysh/sandbox"
)

type wireTeam struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type wireAuthedUser struct {
	ID string `json:"id"`
}

// wireOAuthAccess is the oauth.v2.access answer; expires_in and
// refresh_token only appear with token rotation. An org-wide install
// answers "team": null with the enterprise and is_enterprise_install true
// (https://api.slack.com/enterprise/apps/reference); a workspace install
// inside a Grid org names both its team and its enterprise.
type wireOAuthAccess struct {
	OK                  bool           `json:"ok"`
	AppID               string         `json:"app_id"`
	AuthedUser          wireAuthedUser `json:"authed_user"`
	Scope               string         `json:"scope"`
	TokenType           string         `json:"token_type"`
	AccessToken         string         `json:"access_token"`
	BotUserID           string         `json:"bot_user_id"`
	RefreshToken        string         `json:"refresh_token,omitempty"`
	ExpiresIn           int            `json:"expires_in,omitempty"`
	Team                *wireTeam      `json:"team"`
	Enterprise          *wireTeam      `json:"enterprise"`
	IsEnterpriseInstall bool           `json:"is_enterprise_install"`
}

// handleOAuthAccess serves oauth.v2.access: the code exchange and, with
// rotation, the refresh grant. Failures are HTTP 200 with ok:false, as on
// slack.com.
func (s *Server) handleOAuthAccess(w http.ResponseWriter, r *http.Request) {
	id, secret := sandbox.ClientCredentials(r)
	if id != s.opts.ClientID {
		writeError(w, "invalid_client_id")
		return
	}
	if s.OAuth.CheckClient(id, secret) != nil {
		writeError(w, "bad_client_secret")
		return
	}
	var (
		ts  *sandbox.TokenSet
		err error
	)
	switch r.Form.Get("grant_type") {
	case "", "authorization_code":
		code := r.Form.Get("code")
		if code == "" {
			writeError(w, "invalid_code")
			return
		}
		ts, err = s.OAuth.Exchange(id, code, r.Form.Get("redirect_uri"), r.Form.Get("code_verifier"))
		var oe *sandbox.OAuthError
		if errors.As(err, &oe) && strings.Contains(oe.Description, "redirect_uri") {
			writeError(w, "bad_redirect_uri")
			return
		}
		if err != nil {
			writeError(w, "invalid_code")
			return
		}
	case "refresh_token":
		ts, err = s.OAuth.RefreshToken(id, r.Form.Get("refresh_token"))
		if err != nil {
			writeError(w, "invalid_refresh_token")
			return
		}
	default:
		writeError(w, "invalid_grant_type")
		return
	}
	s.noteIssued(ts)
	s.noteInstall(s.store.installOf(ts.Grant.UserID))
	sandbox.WriteJSON(w, http.StatusOK, s.accessAnswer(ts))
}

func (s *Server) noteIssued(ts *sandbox.TokenSet) {
	s.mu.Lock()
	s.issued[ts.AccessToken] = true
	s.mu.Unlock()
}

func (s *Server) accessAnswer(ts *sandbox.TokenSet) wireOAuthAccess {
	scopes := ts.Scopes
	if len(scopes) == 0 {
		scopes = BotScopes
	}
	in := s.store.installOf(ts.Grant.UserID)
	out := wireOAuthAccess{
		OK: true, AppID: AppID, AuthedUser: wireAuthedUser{ID: ts.Grant.UserID},
		Scope: strings.Join(scopes, ","), TokenType: "bot", AccessToken: ts.AccessToken,
		BotUserID: in.BotUserID, RefreshToken: ts.RefreshToken, ExpiresIn: ts.ExpiresIn,
		IsEnterpriseInstall: in.Org,
	}
	if !in.Org {
		t := s.store.teams[in.Team]
		out.Team = &wireTeam{ID: t.ID, Name: t.Name}
	}
	if in.Enterprise != "" {
		e := s.store.enterprises[in.Enterprise]
		out.Enterprise = &wireTeam{ID: e.ID, Name: e.Name}
	}
	return out
}

// Install runs an auto-approved authorization and code exchange in
// process, as if UserAlice installed the app, and returns the tokens.
// Empty scopes grant BotScopes.
func (s *Server) Install(scopes ...string) (*sandbox.TokenSet, error) {
	return s.InstallAs(UserAlice, scopes...)
}

// InstallAs is Install approved by another user: a member installs on
// their workspace, an org admin (UserGrace) org-wide.
func (s *Server) InstallAs(userID string, scopes ...string) (*sandbox.TokenSet, error) {
	if len(scopes) == 0 {
		scopes = BotScopes
	}
	const redirect = "http://127.0.0.1/callback"
	q := url.Values{"client_id": {s.opts.ClientID}, "scope": {strings.Join(scopes, ",")}, "redirect_uri": {redirect},
		"state": {"install"}, "login": {userID}}
	rec := httptest.NewRecorder()
	s.OAuth.Authorize(rec, httptest.NewRequest(http.MethodGet, "/oauth/v2/authorize?"+q.Encode(), nil))
	loc, err := url.Parse(rec.Header().Get("Location"))
	if err != nil || loc.Query().Get("code") == "" {
		return nil, fmt.Errorf("slacksandbox: install: authorization did not return a code (HTTP %d)", rec.Code)
	}
	ts, err := s.OAuth.Exchange(s.opts.ClientID, loc.Query().Get("code"), redirect, "")
	if err != nil {
		return nil, fmt.Errorf("slacksandbox: install: %w", err)
	}
	s.noteIssued(ts)
	s.noteInstall(s.store.installOf(userID))
	return ts, nil
}

type wireAuthTest struct {
	OK                  bool   `json:"ok"`
	URL                 string `json:"url"`
	Team                string `json:"team"`
	User                string `json:"user"`
	TeamID              string `json:"team_id"`
	UserID              string `json:"user_id"`
	BotID               string `json:"bot_id"`
	EnterpriseID        string `json:"enterprise_id,omitempty"`
	IsEnterpriseInstall bool   `json:"is_enterprise_install"`
}

// handleAuthTest serves auth.test for the token's install; an org-wide
// install answers with its org.
func (s *Server) handleAuthTest(w http.ResponseWriter, r *http.Request) {
	g, _, ok := s.authorize(w, r)
	if !ok {
		return
	}
	in := s.store.installOf(g.UserID)
	ans := wireAuthTest{OK: true, User: "poblysh", UserID: in.BotUserID, BotID: BotID, EnterpriseID: in.Enterprise, IsEnterpriseInstall: in.Org}
	if in.Org {
		e := s.store.enterprises[in.Enterprise]
		ans.URL, ans.Team, ans.TeamID = "https://"+strings.ToLower(e.Name)+".enterprise.slack.com/", e.Name, e.ID
	} else {
		t := s.store.teams[in.Team]
		ans.URL, ans.Team, ans.TeamID = "https://"+t.Domain+".slack.com/", t.Name, t.ID
	}
	sandbox.WriteJSON(w, http.StatusOK, ans)
}

// handleAuthRevoke serves auth.revoke; test=true only checks the token.
func (s *Server) handleAuthRevoke(w http.ResponseWriter, r *http.Request) {
	_, tok, ok := s.authorize(w, r)
	if !ok {
		return
	}
	if t := r.Form.Get("test"); t == "true" || t == "1" {
		sandbox.WriteJSON(w, http.StatusOK, map[string]any{"ok": true, "revoked": false})
		return
	}
	s.OAuth.Revoke(tok)
	// The grant's tokens die. Slack does not uninstall the app for it
	// (it deactivates the bot user and removes its channel memberships)
	// and the fake sends no event.
	s.mu.Lock()
	for t := range s.issued {
		s.revoked[t] = true
	}
	s.mu.Unlock()
	sandbox.WriteJSON(w, http.StatusOK, map[string]any{"ok": true, "revoked": true})
}
