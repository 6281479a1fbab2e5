package githubsandbox

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
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

// page is one page of a list request; refused, when set, is the answer
// instead of it (see paginate).
type page struct {
	start, end int
	refused    *apiMessage
}

// pageRefused is GitHub's answer (422) to a page number on a list it serves
// by cursor only past a point ("large datasets"; go-github#3565 shows it on
// issue lists of large repositories).
var pageRefused = apiMessage{
	"Pagination with the page parameter is not supported for large datasets, please use cursor based pagination (after/before)",
	"https://docs.github.com/rest/using-the-rest-api/using-pagination-in-the-rest-api",
}

// cursorPrefix starts the text of an after/before cursor, as GitHub's
// ("Y3Vyc29yOnYyOp…" is base64 of "cursor:v2:…"); here the offset follows.
const cursorPrefix = "cursor:v2:"

// listCursor encodes the offset of a list item as an opaque cursor:
// standard base64, padding and all, so that a client must escape it in a
// query as GitHub's Link header does.
func listCursor(offset int) string {
	return base64.StdEncoding.EncodeToString([]byte(cursorPrefix + strconv.Itoa(offset)))
}

// cursorOffset decodes listCursor; false for anything else.
func cursorOffset(c string) (int, bool) {
	b, err := base64.StdEncoding.DecodeString(c)
	if err != nil {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimPrefix(string(b), cursorPrefix))
	if err != nil || !strings.HasPrefix(string(b), cursorPrefix) || n < 0 {
		return 0, false
	}
	return n, true
}

// paginate reads per_page and page (or after/before), sets the Link
// header (prev, next, last, first) with absolute URLs on this server, and
// returns the slice bounds. With cursors (a list Options.CursorPagesAfter
// applies to), the pages past the first CursorPagesAfter are linked by an
// opaque after= cursor (prev: before=, and no last), as GitHub links those
// of large lists, and a page number past them is refused (page.refused).
// An after or before that does not decode is a 422 as well.
func (s *Server) paginate(w http.ResponseWriter, r *http.Request, total int, cursors bool) page {
	q := r.URL.Query()
	per, err := strconv.Atoi(q.Get("per_page"))
	if err != nil || per <= 0 {
		per = s.opts.DefaultPerPage
	}
	per = min(per, 100)
	byCursor := cursors && s.opts.CursorPagesAfter > 0
	n, err := strconv.Atoi(q.Get("page"))
	if err != nil || n < 1 {
		n = 1
	}
	start := min((n-1)*per, total)
	viaCursor := false
	switch after, before := q.Get("after"), q.Get("before"); {
	case byCursor && after != "":
		off, ok := cursorOffset(after)
		if !ok {
			return page{refused: &apiMessage{"Invalid cursor", pageRefused.doc}}
		}
		start, viaCursor = min(off, total), true
	case byCursor && before != "":
		off, ok := cursorOffset(before)
		if !ok {
			return page{refused: &apiMessage{"Invalid cursor", pageRefused.doc}}
		}
		start, viaCursor = max(min(off, total)-per, 0), true
	case byCursor && n > s.opts.CursorPagesAfter:
		return page{refused: &pageRefused}
	}
	end := min(start+per, total)
	last := max(1, (total+per-1)/per)
	link := func(set func(url.Values), rel string) string {
		lq := url.Values{}
		for k, v := range q {
			if k != "page" && k != "after" && k != "before" {
				lq[k] = v
			}
		}
		lq.Set("per_page", strconv.Itoa(per))
		set(lq)
		u := url.URL{Scheme: scheme(r), Host: r.Host, Path: r.URL.Path, RawQuery: lq.Encode()}
		return fmt.Sprintf(`<%s>; rel="%s"`, u.String(), rel)
	}
	pageNo := func(p int) func(url.Values) {
		return func(lq url.Values) { lq.Set("page", strconv.Itoa(p)) }
	}
	var links []string
	switch {
	case viaCursor && start > 0:
		links = append(links, link(func(lq url.Values) { lq.Set("before", listCursor(start)) }, "prev"))
	case !viaCursor && n > 1:
		links = append(links, link(pageNo(min(n-1, last)), "prev"))
	}
	switch {
	case end >= total:
	case byCursor && (viaCursor || n >= s.opts.CursorPagesAfter):
		links = append(links, link(func(lq url.Values) { lq.Set("after", listCursor(end)) }, "next"))
	case byCursor:
		links = append(links, link(pageNo(n+1), "next"))
	default:
		links = append(links, link(pageNo(n+1), "next"), link(pageNo(last), "last"))
	}
	if start > 0 {
		links = append(links, link(pageNo(1), "first"))
	}
	if len(links) > 0 {
		w.Header().Set("Link", strings.Join(links, ", "))
	}
	return page{start: start, end: end}
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
