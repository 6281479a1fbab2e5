package zohosandbox

import (
	"cmp"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/poblysh/poblysh/sandbox"
)

// Locations are the data centres the fake serves.
var Locations = []string{"us", "eu", "in", "au", "jp", "ca", "sa", "cn", "uk", "ae"}

// User is a Zoho user of the fake.
type User struct {
	ZUID      string
	First     string
	Last      string
	Email     string
	DC        string
	OrgID     string
	OrgName   string
	TimeZone  string
	MailAcct  string // Zoho Mail accountId (19 digits)
	MailAlias string
}

// Name is the display name.
func (u *User) Name() string { return strings.TrimSpace(u.First + " " + u.Last) }

// Seeded users: an EU organisation (the default sign-in) and a US one.
const (
	UserAda   = "60040386526" // Ada Lovelace, EU, the connecting user by default
	UserPriya = "60040396507" // Priya Raman, EU
	UserMarco = "60040376665" // Marco Rossi, EU
	UserSam   = "70027934"    // Sam Carter, US
	OrgEU     = "20071845"
	OrgUS     = "64396901"
)

func defaultUsers() []*User {
	return []*User{
		{ZUID: UserAda, First: "Ada", Last: "Lovelace", Email: "ada@zylker.eu", DC: "eu", OrgID: OrgEU, OrgName: "Zylker Europe",
			TimeZone: "Europe/Berlin", MailAcct: "7325431000000008002"},
		{ZUID: UserPriya, First: "Priya", Last: "Raman", Email: "priya@zylker.eu", DC: "eu", OrgID: OrgEU, OrgName: "Zylker Europe",
			TimeZone: "Europe/Paris", MailAcct: "7325431000000008019"},
		{ZUID: UserMarco, First: "Marco", Last: "Rossi", Email: "marco@zylker.eu", DC: "eu", OrgID: OrgEU, OrgName: "Zylker Europe",
			TimeZone: "Europe/Rome", MailAcct: "7325431000000008031"},
		{ZUID: UserSam, First: "Sam", Last: "Carter", Email: "sam@zylker.com", DC: "us", OrgID: OrgUS, OrgName: "Zylker Inc",
			TimeZone: "America/New_York", MailAcct: "2890538000000002002"},
	}
}

// accountsServer is one DC's Zoho Accounts: its own tokens, which no other
// DC knows.
type accountsServer struct {
	s     *Server
	dc    string
	oauth *sandbox.OAuth

	mu        sync.Mutex
	issued    map[string][]string    // refresh tokens per user+client, oldest first (20 kept)
	minted    map[string][]time.Time // access tokens minted per refresh token (10 per 10 min)
	Revoked   []string
	Refreshes int
	Throttled int
}

func newAccountsServer(s *Server, dc string) *accountsServer {
	o := &sandbox.OAuth{
		Clients:       map[string]string{s.opts.ClientID: s.opts.ClientSecret},
		AccessTTL:     s.opts.AccessTTL,
		Refresh:       true,
		TokenPrefix:   "1000." + dc + ".",
		RefreshPrefix: "1000.r" + dc + ".",
		Now:           s.opts.Now,
	}
	return &accountsServer{s: s, dc: dc, oauth: o, issued: map[string][]string{}, minted: map[string][]time.Time{}}
}

// Accounts returns the Zoho Accounts of one DC (tests inspect it).
func (s *Server) Accounts(dc string) *accountsServer { return s.accounts[dc] }

// OAuth is the DC's OAuth server.
func (a *accountsServer) OAuth() *sandbox.OAuth { return a.oauth }

// Stats reports refreshes, throttled refreshes and revocations so far.
func (a *accountsServer) Stats() (refreshes, throttled, revoked int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.Refreshes, a.Throttled, len(a.Revoked)
}

func (s *Server) accountRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /{dc}/accounts/oauth/v2/auth", s.handleAuthorize)
	mux.HandleFunc("POST /{dc}/accounts/oauth/v2/token", s.handleToken)
	mux.HandleFunc("POST /{dc}/accounts/oauth/v2/token/revoke", s.handleRevoke)
	mux.HandleFunc("GET /{dc}/accounts/oauth/user/info", s.handleUserInfo)
}

// zohoError is Zoho Accounts' error answer: HTTP 200 with an error field.
func zohoError(w http.ResponseWriter, code, desc string) {
	body := map[string]string{"error": code}
	if desc != "" {
		body["error_description"] = desc
	}
	sandbox.WriteJSON(w, http.StatusOK, body)
}

// handleAuthorize auto-approves and sends the browser back with the code,
// the user's location and accounts-server, the way Zoho redirects a user
// of another DC that signed in at accounts.zoho.com.
func (s *Server) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	ru, err := url.Parse(q.Get("redirect_uri"))
	if err != nil || ru.Scheme == "" {
		http.Error(w, "redirect_uri is required", http.StatusBadRequest)
		return
	}
	if q.Get("client_id") != s.opts.ClientID {
		http.Error(w, "Invalid Client", http.StatusBadRequest)
		return
	}
	login := q.Get("login")
	if login == "" {
		login = s.opts.User
	}
	u, ok := s.user(login)
	back := ru.Query()
	if st := q.Get("state"); st != "" {
		back.Set("state", st)
	}
	if !ok || q.Has("deny") {
		back.Set("error", "access_denied")
		ru.RawQuery = back.Encode()
		http.Redirect(w, r, ru.String(), http.StatusFound)
		return
	}
	// The code is issued by the user's own DC: only its token endpoint
	// redeems it.
	acc := s.accounts[u.DC]
	loc := acc.authorize(q, u.ZUID)
	if loc.Get("code") == "" {
		http.Error(w, "authorization failed", http.StatusBadRequest)
		return
	}
	back.Set("code", loc.Get("code"))
	back.Set("location", u.DC)
	back.Set("accounts-server", baseURL(r)+"/"+u.DC+"/accounts")
	ru.RawQuery = back.Encode()
	http.Redirect(w, r, ru.String(), http.StatusFound)
}

// authorize runs the shared OAuth server's authorize step for zuid and
// returns the code it issued.
func (a *accountsServer) authorize(q url.Values, zuid string) url.Values {
	q2 := url.Values{}
	for k, v := range q {
		q2[k] = v
	}
	q2.Set("login", zuid)
	q2.Del("state")
	req, _ := http.NewRequest(http.MethodGet, "/?"+q2.Encode(), nil)
	rec := &redirectRecorder{h: http.Header{}}
	a.oauth.Authorize(rec, req)
	u, err := url.Parse(rec.h.Get("Location"))
	if err != nil {
		return url.Values{}
	}
	return u.Query()
}

// redirectRecorder captures the Location of a redirect.
type redirectRecorder struct {
	h      http.Header
	status int
}

func (r *redirectRecorder) Header() http.Header         { return r.h }
func (r *redirectRecorder) Write(b []byte) (int, error) { return len(b), nil }
func (r *redirectRecorder) WriteHeader(code int)        { r.status = code }

// baseURL is the fake's own base URL as the client reached it.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// handleToken redeems codes and refresh tokens. Every error is HTTP 200
// with {"error": …}, as Zoho answers.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	acc, ok := s.accounts[r.PathValue("dc")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	if err := r.ParseForm(); err != nil {
		zohoError(w, "invalid_request", "")
		return
	}
	id, secret := r.Form.Get("client_id"), r.Form.Get("client_secret")
	if id != s.opts.ClientID {
		zohoError(w, "invalid_client", "")
		return
	}
	if secret != s.opts.ClientSecret {
		zohoError(w, "invalid_client_secret", "")
		return
	}
	switch r.Form.Get("grant_type") {
	case "authorization_code":
		// An authorization that carried a code_challenge is redeemed only
		// with its code_verifier (S256, or plain, Zoho's default method);
		// Zoho's answer to any refused code is invalid_code.
		ts, err := acc.oauth.Exchange(id, r.Form.Get("code"), r.Form.Get("redirect_uri"), r.Form.Get("code_verifier"))
		if err != nil {
			zohoError(w, "invalid_code", "")
			return
		}
		acc.keepRefresh(ts.Grant.UserID+"|"+id, ts.RefreshToken)
		sandbox.WriteJSON(w, http.StatusOK, acc.answer(ts, true))
	case "refresh_token":
		rt := r.Form.Get("refresh_token")
		if !acc.mint(rt) {
			zohoError(w, "Access Denied", "You have made too many requests continuously. Please try again after some time.")
			return
		}
		ts, err := acc.oauth.RefreshToken(id, rt)
		if err != nil {
			zohoError(w, "invalid_code", "")
			return
		}
		acc.mu.Lock()
		acc.Refreshes++
		acc.mu.Unlock()
		sandbox.WriteJSON(w, http.StatusOK, acc.answer(ts, false))
	default:
		zohoError(w, "unsupported_grant_type", "")
	}
}

// answer is a token response; a refresh answers no refresh token (Zoho
// never rotates them).
func (a *accountsServer) answer(ts *sandbox.TokenSet, withRefresh bool) map[string]any {
	out := map[string]any{
		"access_token": ts.AccessToken,
		"api_domain":   "https://www.zohoapis." + apiSuffix[a.dc],
		"token_type":   "Bearer",
		"expires_in":   ts.ExpiresIn,
	}
	if withRefresh && ts.RefreshToken != "" {
		out["refresh_token"] = ts.RefreshToken
	}
	return out
}

// apiSuffix is each DC's domain suffix (www.zohoapis.<suffix>).
var apiSuffix = map[string]string{"us": "com", "eu": "eu", "in": "in", "au": "com.au", "jp": "jp", "ca": "ca",
	"sa": "sa", "cn": "com.cn", "uk": "uk", "ae": "ae"}

// keepRefresh records a new refresh token of a user and client; the 21st
// deletes the oldest, as Zoho does (Options.RefreshTokensKept).
func (a *accountsServer) keepRefresh(key, rt string) {
	if rt == "" {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.issued[key] = append(a.issued[key], rt)
	for len(a.issued[key]) > cmp.Or(a.s.opts.RefreshTokensKept, 20) {
		a.oauth.ForgetRefreshToken(a.issued[key][0])
		a.issued[key] = a.issued[key][1:]
	}
}

// mint spends one of a refresh token's 10 access tokens per 10 minutes.
func (a *accountsServer) mint(rt string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.s.now()
	kept := a.minted[rt][:0]
	for _, t := range a.minted[rt] {
		if now.Sub(t) < 10*time.Minute {
			kept = append(kept, t)
		}
	}
	if len(kept) >= 10 {
		a.minted[rt] = kept
		a.Throttled++
		return false
	}
	a.minted[rt] = append(kept, now)
	return true
}

func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request) {
	acc, ok := s.accounts[r.PathValue("dc")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	// Zoho revokes the one refresh token named: the user's other grants
	// to the client (another connection's, another product's) live on,
	// and the revoked token no longer counts toward the 20 kept.
	tok := r.URL.Query().Get("token")
	if tok == "" || !acc.oauth.RevokeToken(tok) {
		zohoError(w, "invalid_token", "")
		return
	}
	acc.mu.Lock()
	acc.Revoked = append(acc.Revoked, tok)
	for key, list := range acc.issued {
		acc.issued[key] = slices.DeleteFunc(list, func(t string) bool { return t == tok })
	}
	acc.mu.Unlock()
	sandbox.WriteJSON(w, http.StatusOK, map[string]string{"status": "success"})
}

// handleUserInfo answers GET /oauth/user/info for a token of this DC.
func (s *Server) handleUserInfo(w http.ResponseWriter, r *http.Request) {
	u, ok := s.apiUser(w, r)
	if !ok {
		return
	}
	sandbox.WriteJSON(w, http.StatusOK, map[string]string{
		"First_Name": u.First, "Last_Name": u.Last, "Display_Name": u.Name(), "Email": u.Email, "ZUID": u.ZUID,
	})
}

// apiUser authenticates an API call ("Zoho-oauthtoken <token>", or Bearer)
// against the DC of the path: a token of another DC is unknown here (401).
func (s *Server) apiUser(w http.ResponseWriter, r *http.Request) (*User, bool) {
	acc, ok := s.accounts[r.PathValue("dc")]
	if !ok {
		http.NotFound(w, r)
		return nil, false
	}
	tok := sandbox.BearerToken(r, "Zoho-oauthtoken", "Bearer")
	g, err := acc.oauth.Check(tok)
	if tok == "" || err != nil {
		sandbox.WriteJSON(w, http.StatusUnauthorized, map[string]string{"code": "oauthtoken_invalid", "message": "Invalid OAuth token."})
		return nil, false
	}
	u, ok := s.user(g.UserID)
	if !ok {
		sandbox.WriteJSON(w, http.StatusUnauthorized, map[string]string{"code": "oauthtoken_invalid", "message": "Unknown user."})
		return nil, false
	}
	return u, true
}

func (s *Server) user(zuid string) (*User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[zuid]
	return u, ok
}
