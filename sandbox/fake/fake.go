// Package fake is the sandbox of the engine's test provider ("fake"): a
// minimal provider with OAuth (expiring, rotating tokens), numbered items
// per stream served in pages, cursor expiry (410) on demand, and signed
// webhooks that either carry items or only say "something changed". It
// exists to prove the engine (workflows, storage, intake) independently of
// any real provider, at any volume.
package fake

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/poblysh/poblysh/sandbox"
)

// Defaults for empty Options fields.
const (
	DefaultClientID      = "fake-client-id"
	DefaultClientSecret  = "fake-client-secret"
	DefaultWebhookSecret = "fake-webhook-secret"
	DefaultAccountID     = "acct-1"
)

// Base is the timestamp of item 1; item n happened n minutes later.
var Base = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// Options configure the fake.
type Options struct {
	ClientID, ClientSecret, WebhookSecret string
	// AccountID identifies the account every authorization grants.
	AccountID string
	// AccessTTL is the access token lifetime (default 1 h).
	AccessTTL time.Duration
	// RefreshReuseLeeway lets a rotated refresh token be used again for
	// this long (Jira: 10 minutes; default 0: single use).
	RefreshReuseLeeway time.Duration
	// Streams maps stream names to their initial item count (default items: 25).
	Streams map[string]int
	// MaxPage caps a page (default 1000).
	MaxPage int
	// PageDelay slows every item page (to catch a sync mid-flight).
	PageDelay time.Duration
}

// Server is the fake provider.
type Server struct {
	*sandbox.Base
	// TokenFaults are faults of the token endpoint (Faults are the API's).
	TokenFaults *sandbox.Faults
	opts        Options
	mux         *http.ServeMux

	mu          sync.Mutex
	counts      map[string]int
	expireNext  int
	deliveryNum int
	// Requests counts item-page requests (tests assert on quota spent).
	Requests int
}

// Item is one provider object.
type Item struct {
	ID        int    `json:"id"`
	Stream    string `json:"stream"`
	Title     string `json:"title"`
	Author    string `json:"author"`
	CreatedAt string `json:"created_at"`
}

// MakeItem is the deterministic item n of a stream.
func MakeItem(stream string, n int) Item {
	return Item{ID: n, Stream: stream, Title: fmt.Sprintf("Item %d of %s", n, stream), Author: "user-" + strconv.Itoa(n%7),
		CreatedAt: Base.Add(time.Duration(n) * time.Minute).Format(time.RFC3339)}
}

// New returns a fake provider.
func New(o Options) *Server {
	if o.ClientID == "" {
		o.ClientID = DefaultClientID
	}
	if o.ClientSecret == "" {
		o.ClientSecret = DefaultClientSecret
	}
	if o.WebhookSecret == "" {
		o.WebhookSecret = DefaultWebhookSecret
	}
	if o.AccountID == "" {
		o.AccountID = DefaultAccountID
	}
	if o.AccessTTL == 0 {
		o.AccessTTL = time.Hour
	}
	if o.Streams == nil {
		o.Streams = map[string]int{"items": 25}
	}
	if o.MaxPage == 0 {
		o.MaxPage = 1000
	}
	oa := &sandbox.OAuth{Clients: map[string]string{o.ClientID: o.ClientSecret}, AccessTTL: o.AccessTTL, Refresh: true,
		RotateRefresh: true, ReuseLeeway: o.RefreshReuseLeeway, TokenPrefix: "fake_at_", RefreshPrefix: "fake_rt_", DefaultUser: o.AccountID}
	s := &Server{Base: sandbox.NewBase(oa), TokenFaults: &sandbox.Faults{}, opts: o, counts: map[string]int{}}
	for k, v := range o.Streams {
		s.counts[k] = v
	}
	api := http.NewServeMux()
	api.HandleFunc("GET /api/me", s.auth(s.me))
	api.HandleFunc("GET /api/streams/{stream}/items", s.auth(s.items))
	s.mux = http.NewServeMux()
	s.mux.Handle("/api/", s.Faults.Middleware(api))
	s.mux.HandleFunc("GET /oauth/authorize", oa.Authorize)
	s.mux.Handle("POST /oauth/token", s.TokenFaults.Middleware(http.HandlerFunc(s.token)))
	s.mux.HandleFunc("POST /oauth/revoke", func(w http.ResponseWriter, r *http.Request) {
		oa.Revoke(r.PostFormValue("token"))
		w.WriteHeader(http.StatusOK)
	})
	s.ControlRoutes(s.mux)
	s.mux.HandleFunc("POST /_sandbox/fake/streams/{stream}/items", s.addItems)
	s.mux.HandleFunc("POST /_sandbox/fake/expire-cursors", func(w http.ResponseWriter, r *http.Request) {
		s.ExpireCursors()
		w.WriteHeader(http.StatusNoContent)
	})
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// PageRequests is Requests, read under the server's lock (for tests that
// watch it while the service syncs).
func (s *Server) PageRequests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.Requests
}

// Env points the service's "fake" provider at this server.
func (s *Server) Env(baseURL string) map[string]string {
	return map[string]string{
		"POBLYSH_FAKE_CLIENT_ID":      s.opts.ClientID,
		"POBLYSH_FAKE_CLIENT_SECRET":  s.opts.ClientSecret,
		"POBLYSH_FAKE_WEBHOOK_SECRET": s.opts.WebhookSecret,
		"POBLYSH_FAKE_AUTH_URL":       baseURL + "/oauth/authorize",
		"POBLYSH_FAKE_TOKEN_URL":      baseURL + "/oauth/token",
		"POBLYSH_FAKE_REVOKE_URL":     baseURL + "/oauth/revoke",
		"POBLYSH_FAKE_API_URL":        baseURL + "/api/",
	}
}

// Count returns a stream's item count.
func (s *Server) Count(stream string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[stream]
}

// Add appends n items to a stream and returns them.
func (s *Server) Add(stream string, n int) []Item {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Item
	for range n {
		s.counts[stream]++
		out = append(out, MakeItem(stream, s.counts[stream]))
	}
	return out
}

// ExpireCursors makes the next item request that carries a cursor answer
// 410 GONE, as an expired sync token would.
func (s *Server) ExpireCursors() {
	s.mu.Lock()
	s.expireNext++
	s.mu.Unlock()
}

func (s *Server) auth(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if _, err := s.OAuth.Check(sandbox.BearerToken(r)); err != nil {
			sandbox.WriteJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_token"})
			return
		}
		next(w, r)
	}
}

func (s *Server) me(w http.ResponseWriter, r *http.Request) {
	sandbox.WriteJSON(w, http.StatusOK, map[string]string{"id": s.opts.AccountID, "name": "Fake Org " + s.opts.AccountID})
}

func (s *Server) items(w http.ResponseWriter, r *http.Request) {
	stream := r.PathValue("stream")
	after, _ := strconv.Atoi(r.URL.Query().Get("after"))
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	if limit <= 0 || limit > s.opts.MaxPage {
		limit = s.opts.MaxPage
	}
	s.mu.Lock()
	s.Requests++
	count, known := s.counts[stream]
	expire := after > 0 && s.expireNext > 0
	if expire {
		s.expireNext--
	}
	s.mu.Unlock()
	if s.opts.PageDelay > 0 {
		select {
		case <-time.After(s.opts.PageDelay):
		case <-r.Context().Done():
			return
		}
	}
	if !known {
		sandbox.WriteJSON(w, http.StatusNotFound, map[string]string{"error": "no such stream"})
		return
	}
	if expire {
		sandbox.WriteJSON(w, http.StatusGone, map[string]string{"error": "cursor expired"})
		return
	}
	items := []Item{}
	for id := after + 1; id <= count && len(items) < limit; id++ {
		items = append(items, MakeItem(stream, id))
	}
	last := after
	if len(items) > 0 {
		last = items[len(items)-1].ID
	}
	sandbox.WriteJSON(w, http.StatusOK, map[string]any{"items": items, "last_id": last, "has_more": last < count})
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	id, secret := sandbox.ClientCredentials(r)
	if err := s.OAuth.CheckClient(id, secret); err != nil {
		sandbox.WriteJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client"})
		return
	}
	var ts *sandbox.TokenSet
	var err error
	switch r.PostFormValue("grant_type") {
	case "authorization_code":
		ts, err = s.OAuth.Exchange(id, r.PostFormValue("code"), r.PostFormValue("redirect_uri"), r.PostFormValue("code_verifier"))
	case "refresh_token":
		ts, err = s.OAuth.RefreshToken(id, r.PostFormValue("refresh_token"))
	default:
		err = &sandbox.OAuthError{Code: "unsupported_grant_type", Description: "unsupported grant_type"}
	}
	if err != nil {
		oe, _ := err.(*sandbox.OAuthError)
		if oe == nil {
			oe = sandbox.ErrInvalidGrant
		}
		sandbox.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": oe.Code, "error_description": oe.Description})
		return
	}
	sandbox.WriteJSON(w, http.StatusOK, map[string]any{"access_token": ts.AccessToken, "token_type": "Bearer",
		"expires_in": ts.ExpiresIn, "refresh_token": ts.RefreshToken, "scope": "items:read"})
}

// Delivery is a webhook body.
type Delivery struct {
	DeliveryID string `json:"delivery_id"`
	Account    string `json:"account"`
	Stream     string `json:"stream"`
	Items      []Item `json:"items,omitempty"`
	Notify     bool   `json:"notify,omitempty"`
}

// Sign returns the X-Fake-Signature of body.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Build forms a signed delivery.
func (s *Server) Build(d Delivery) sandbox.Delivery {
	s.mu.Lock()
	if d.DeliveryID == "" {
		s.deliveryNum++
		d.DeliveryID = fmt.Sprintf("dlv-%d-%d", time.Now().UnixNano(), s.deliveryNum)
	}
	s.mu.Unlock()
	if d.Account == "" {
		d.Account = s.opts.AccountID
	}
	body, _ := json.Marshal(d)
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("X-Fake-Delivery", d.DeliveryID)
	h.Set("X-Fake-Signature", Sign(s.opts.WebhookSecret, body))
	return sandbox.Delivery{Header: h, Body: body}
}

func (s *Server) addItems(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Count   int    `json:"count"`
		Deliver string `json:"deliver"` // "", "payload" or "notify"
		sandbox.DeliveryOptions
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Count < 0 || req.Count > 1_000_000 {
		sandbox.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "body must be {\"count\": n}"})
		return
	}
	stream := r.PathValue("stream")
	items := s.Add(stream, req.Count)
	var results []sandbox.Result
	switch req.Deliver {
	case "payload":
		results = s.Deliverer.Send(r.Context(), s.Build(Delivery{Stream: stream, Items: items}), req.DeliveryOptions)
	case "notify":
		results = s.Deliverer.Send(r.Context(), s.Build(Delivery{Stream: stream, Notify: true}), req.DeliveryOptions)
	}
	sandbox.WriteJSON(w, http.StatusCreated, map[string]any{"items": items, "deliveries": results})
}

// Authorize plays a user who approves at the sandbox served at baseURL
// (its /oauth/authorize, which redirects with a code at once) and redeems
// the code, as a callback does: the tokens of a new grant.
func (s *Server) Authorize(baseURL, redirectURI string) (*sandbox.TokenSet, error) {
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Get(baseURL + "/oauth/authorize?client_id=" + DefaultClientID + "&redirect_uri=" + url.QueryEscape(redirectURI))
	if err != nil {
		return nil, err
	}
	_ = resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		return nil, fmt.Errorf("fake: authorize: %w", err)
	}
	return s.OAuth.Exchange(DefaultClientID, loc.Query().Get("code"), redirectURI, "")
}
