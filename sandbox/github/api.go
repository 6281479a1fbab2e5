package githubsandbox

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/poblysh/poblysh/sandbox"
)

// RateLimit is the primary rate limit per user per hour, as GitHub grants
// user tokens (the default of Options.RateLimit).
const RateLimit = 5000

// rateLimit and rateWindow are the budget this fake grants.
func (s *Server) rateLimit() int {
	if s.opts.RateLimit > 0 {
		return s.opts.RateLimit
	}
	return RateLimit
}

func (s *Server) rateWindow() time.Duration {
	if s.opts.RateWindow > 0 {
		return s.opts.RateWindow
	}
	return time.Hour
}

// RateLimitedCalls is how many calls were refused for the primary rate
// limit (403 with x-ratelimit-remaining: 0).
func (s *Server) RateLimitedCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refused
}

// session is an authenticated API caller.
type session struct {
	grant sandbox.Grant
	login string
}

// apiHandler serves one authenticated REST route.
type apiHandler func(w http.ResponseWriter, r *http.Request, sess *session)

type rateWindow struct {
	reset time.Time
	used  int
}

// api authenticates a REST call (Authorization: Bearer or token) and
// enforces the primary rate limit.
func (s *Server) api(h apiHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hdr := w.Header()
		// Date on the sandbox clock, the one that stamps activity (as
		// GitHub's Date and its timestamps come from one clock).
		hdr.Set("Date", s.now().Format(http.TimeFormat))
		hdr.Set("X-GitHub-Api-Version-Selected", "2022-11-28")
		hdr.Set("X-GitHub-Media-Type", "github.v3; format=json")
		hdr.Set("X-GitHub-Request-Id", strings.ToUpper(sandbox.RandomString(8)+":"+sandbox.RandomString(6)))
		tok := sandbox.BearerToken(r)
		if tok == "" {
			writeGitHubError(w, http.StatusUnauthorized, "Requires authentication", "https://docs.github.com/rest")
			return
		}
		grant, err := s.OAuth.Check(tok)
		if err != nil {
			writeGitHubError(w, http.StatusUnauthorized, "Bad credentials", "https://docs.github.com/rest")
			return
		}
		sess := &session{grant: grant, login: grant.UserID}
		if s.opts.AccessTTL == 0 {
			hdr.Set("X-OAuth-Scopes", strings.Join(grant.Scopes, ", "))
			hdr.Set("X-Accepted-OAuth-Scopes", "repo")
		}
		if remaining, _ := s.rateState(sess, false); remaining <= 0 {
			s.mu.Lock()
			s.refused++
			s.mu.Unlock()
			s.rateHeaders(w, sess, false)
			writeGitHubError(w, http.StatusForbidden,
				"API rate limit exceeded for user. If you reach out to GitHub Support for help, please include the request ID.",
				"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api")
			return
		}
		h(w, r, sess)
	})
}

// withRateHeaders sets x-ratelimit-* on every REST answer before anything
// else runs, so 401s and injected faults carry them too (a fault's own
// headers, and the handler's counted values, replace them). Unauthenticated
// callers see GitHub's 60/h anonymous budget.
func (s *Server) withRateHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if strings.HasPrefix(p, "/_sandbox/") || strings.HasPrefix(p, "/login/") || strings.HasPrefix(p, "/applications/") {
			next.ServeHTTP(w, r)
			return
		}
		if grant, err := s.OAuth.Check(sandbox.BearerToken(r)); err == nil {
			s.rateHeaders(w, &session{grant: grant, login: grant.UserID}, false)
		} else {
			h := w.Header()
			h.Set("X-RateLimit-Limit", "60")
			h.Set("X-RateLimit-Remaining", "59")
			h.Set("X-RateLimit-Used", "1")
			h.Set("X-RateLimit-Reset", strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10))
			h.Set("X-RateLimit-Resource", "core")
		}
		next.ServeHTTP(w, r)
	})
}

// rateState returns the remaining calls and the reset time, counting one
// call when count is set.
func (s *Server) rateState(sess *session, count bool) (int, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	rw := s.rate[sess.login]
	if rw == nil || now.After(rw.reset) {
		rw = &rateWindow{reset: now.Add(s.rateWindow()).Truncate(time.Second)}
		s.rate[sess.login] = rw
	}
	if count {
		rw.used++
	}
	return s.rateLimit() - rw.used, rw.reset
}

// rateHeaders sets the x-ratelimit-* headers, counting the call when count
// is set (304 answers are free, as on GitHub).
func (s *Server) rateHeaders(w http.ResponseWriter, sess *session, count bool) {
	remaining, reset := s.rateState(sess, count)
	if remaining < 0 {
		remaining = 0
	}
	h := w.Header()
	h.Set("X-RateLimit-Limit", strconv.Itoa(s.rateLimit()))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(remaining))
	h.Set("X-RateLimit-Used", strconv.Itoa(s.rateLimit()-remaining))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
	h.Set("X-RateLimit-Resource", "core")
}

// respond writes v as JSON with an ETag; a GET whose If-None-Match matches
// answers 304 Not Modified without a body.
func (s *Server) respond(w http.ResponseWriter, r *http.Request, sess *session, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		s.apiError(w, sess, http.StatusInternalServerError, "Server Error")
		return
	}
	h := w.Header()
	if r.Method == http.MethodGet && status == http.StatusOK {
		sum := sha256.Sum256(body)
		etag := `W/"` + hex.EncodeToString(sum[:]) + `"`
		h.Set("ETag", etag)
		h.Set("Cache-Control", "private, max-age=60, s-maxage=60")
		h.Set("Vary", "Accept, Authorization, Cookie, X-GitHub-OTP")
		if etagMatches(r.Header.Get("If-None-Match"), etag) {
			s.rateHeaders(w, sess, false)
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	s.rateHeaders(w, sess, true)
	h.Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// noContent answers 204, counting the call.
func (s *Server) noContent(w http.ResponseWriter, sess *session) {
	s.rateHeaders(w, sess, true)
	w.WriteHeader(http.StatusNoContent)
}

// etagMatches compares If-None-Match (a list, weak comparison) with etag.
func etagMatches(header, etag string) bool {
	if header == "" {
		return false
	}
	want := strings.TrimPrefix(etag, "W/")
	for _, part := range strings.Split(header, ",") {
		part = strings.TrimSpace(part)
		if part == "*" || strings.TrimPrefix(part, "W/") == want {
			return true
		}
	}
	return false
}

// apiError writes a GitHub error body, counting the call.
func (s *Server) apiError(w http.ResponseWriter, sess *session, status int, msg string) {
	s.rateHeaders(w, sess, true)
	writeGitHubError(w, status, msg, "https://docs.github.com/rest")
}

// validationFailed writes GitHub's 422 shape.
func (s *Server) validationFailed(w http.ResponseWriter, sess *session, resource, field, code, msg string) {
	s.rateHeaders(w, sess, true)
	e := obj{"resource": resource, "code": code}
	if field != "" {
		e["field"] = field
	}
	if msg != "" {
		e["message"] = msg
	}
	sandbox.WriteJSON(w, http.StatusUnprocessableEntity, obj{
		"message": "Validation Failed", "errors": []obj{e},
		"documentation_url": "https://docs.github.com/rest", "status": "422",
	})
}

func writeGitHubError(w http.ResponseWriter, status int, msg, doc string) {
	sandbox.WriteJSON(w, status, obj{"message": msg, "documentation_url": doc, "status": strconv.Itoa(status)})
}

// defaultErrorBody is the GitHub-shaped body of an injected fault.
func defaultErrorBody(status int) (string, string) {
	msg, doc := http.StatusText(status), "https://docs.github.com/rest"
	switch status {
	case http.StatusUnauthorized:
		msg = "Bad credentials"
	case http.StatusForbidden:
		msg = "Resource not accessible by integration"
	case http.StatusTooManyRequests:
		msg = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
		doc = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"
	}
	b, _ := json.Marshal(obj{"message": msg, "documentation_url": doc, "status": strconv.Itoa(status)})
	return "application/json; charset=utf-8", string(b)
}

// page is one page of a list request.
type page struct{ start, end int }

// paginate reads per_page and page, sets the Link header (prev, next, last,
// first) with absolute URLs on this server, and returns the slice bounds.
func (s *Server) paginate(w http.ResponseWriter, r *http.Request, total int) page {
	q := r.URL.Query()
	per, err := strconv.Atoi(q.Get("per_page"))
	if err != nil || per <= 0 {
		per = s.opts.DefaultPerPage
	}
	per = min(per, 100)
	n, err := strconv.Atoi(q.Get("page"))
	if err != nil || n < 1 {
		n = 1
	}
	last := max(1, (total+per-1)/per)
	link := func(p int, rel string) string {
		q.Set("page", strconv.Itoa(p))
		q.Set("per_page", strconv.Itoa(per))
		u := url.URL{Scheme: scheme(r), Host: r.Host, Path: r.URL.Path, RawQuery: q.Encode()}
		return fmt.Sprintf(`<%s>; rel="%s"`, u.String(), rel)
	}
	var links []string
	if n > 1 {
		links = append(links, link(min(n-1, last), "prev"))
	}
	if n < last {
		links = append(links, link(n+1, "next"), link(last, "last"))
	}
	if n > 1 {
		links = append(links, link(1, "first"))
	}
	if len(links) > 0 {
		w.Header().Set("Link", strings.Join(links, ", "))
	}
	start := min((n-1)*per, total)
	return page{start: start, end: min(start+per, total)}
}

func scheme(r *http.Request) string {
	if p := r.Header.Get("X-Forwarded-Proto"); p != "" {
		return p
	}
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

// background returns a context for asynchronous deliveries that outlive a request.
func background() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 30*time.Second)
}
