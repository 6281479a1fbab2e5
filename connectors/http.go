package connectors

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/time/rate"

	"github.com/poblysh/poblysh/metrics"
)

// Classifier lets a provider override how responses map to neutral errors
// (Calendar: 410 means the sync token expired; Google: 403 with reason
// rateLimitExceeded is a rate limit). Implementations usually handle their
// special cases and fall back to ClassifyResponse.
type Classifier interface {
	ClassifyResponse(resp *http.Response) error
}

// Transport paces, authorizes, counts and classifies provider calls. A
// provider error response becomes an error from RoundTrip, so every SDK
// (go-github, slack-go, google-api) surfaces the same neutral errors and
// errors.Is/As see through the *url.Error the http.Client wraps them in.
type Transport struct {
	Base     http.RoundTripper
	Provider string
	Limiter  *rate.Limiter
	// Budget, when set, paces by the rate-limit headers of the account's
	// answers: consulted before each call, fed by each response.
	Budget *Budget
	// Auth is the Authorization header value; "" leaves the request alone.
	Auth string
	// Classify maps a response to an error, nil for success.
	Classify func(*http.Response) error
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.Limiter != nil {
		if err := t.Limiter.Wait(req.Context()); err != nil {
			return nil, fmt.Errorf("%s: waiting for rate limiter: %w", t.Provider, err)
		}
	}
	if t.Budget != nil {
		if err := t.Budget.Wait(req.Context()); err != nil {
			return nil, fmt.Errorf("%s: waiting for the rate-limit budget: %w", t.Provider, err)
		}
	}
	switch {
	case !sameOrigin(req):
		// A redirect to another host (or scheme) gets no credentials: the
		// token authorizes calls to the provider, not to wherever a
		// response points.
		if req.Header.Get("Authorization") != "" {
			req = req.Clone(req.Context())
			req.Header.Del("Authorization")
		}
	case t.Auth != "":
		req = req.Clone(req.Context())
		req.Header.Set("Authorization", t.Auth)
	}
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	resp, err := base.RoundTrip(req)
	if err != nil {
		if t.Budget != nil {
			t.Budget.Release()
		}
		metrics.ProviderCalls.WithLabelValues(t.Provider, "error").Inc()
		if ctxErr := req.Context().Err(); ctxErr != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%s %s: %w: %s", req.Method, req.URL.Path, ErrTransient, describeNetErr(err))
	}
	// The budget learns only from the API's own answers about this
	// token. Not from a 401 (a rejected token's answer states the
	// anonymous budget, GitHub's 60 an hour), a 5xx, or a success whose
	// body is garbage (a proxy's page, a cut-off answer): their headers,
	// if any, are not the account's. Each still ends its booked call.
	observe := t.Budget != nil && resp.StatusCode != http.StatusUnauthorized && resp.StatusCode < 500
	settled := t.Budget == nil
	settle := func(ok bool) {
		if settled {
			return
		}
		settled = true
		if ok {
			t.Budget.Observe(resp.Header)
		} else {
			t.Budget.Release()
		}
	}
	defer settle(false)
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		settle(observe) // a 403/429 rate-limit answer tells the reset
	}
	classify := t.Classify
	if classify == nil {
		classify = ClassifyResponse
	}
	if cerr := classify(resp); cerr != nil {
		metrics.ProviderCalls.WithLabelValues(t.Provider, strconv.Itoa(resp.StatusCode)).Inc()
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		_ = resp.Body.Close()
		if errors.Is(cerr, ErrRateLimited) {
			metrics.RateLimitHits.WithLabelValues(t.Provider).Inc()
			t.hold(resp, cerr)
		}
		// The error holds the provider's text, which can echo the request
		// (a proxy's page, an error quoting the header): the token is cut
		// out of it.
		return nil, RedactError(fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, cerr), authSecrets(t.Auth)...)
	}
	if err := checkBody(req, resp); err != nil {
		metrics.ProviderCalls.WithLabelValues(t.Provider, "garbage").Inc()
		return nil, fmt.Errorf("%s: %s %s: %w", t.Provider, req.Method, req.URL.Path, err)
	}
	settle(observe)
	if observe {
		t.Budget.Accepted()
	}
	metrics.ProviderCalls.WithLabelValues(t.Provider, strconv.Itoa(resp.StatusCode)).Inc()
	return resp, nil
}

// hold holds the account's budget after a rate-limited answer, so the
// account's other calls wait out the refusal without calling (GitHub's
// secondary rate limit leaves x-ratelimit-remaining above 0, so Observe
// learns nothing from it). A limit of another resource's budget (search,
// GraphQL) with x-ratelimit-remaining 0 holds only that resource's calls
// at the provider, so it holds nothing here, as Observe ignores it.
func (t *Transport) hold(resp *http.Response, cerr error) {
	var rl *RateLimited
	if t.Budget == nil || !errors.As(cerr, &rl) || rl.RetryAfter <= 0 {
		return
	}
	if !rl.Floor && otherResource(resp.Header) {
		return
	}
	t.Budget.Hold(rl.RetryAfter, rl.Floor, rl.Reason)
}

// maxCheckedBody is the largest success body checkBody reads; a larger one
// passes unchecked (its decoder still fails on garbage).
const maxCheckedBody = 32 << 20

// checkBody refuses a success response whose body is not what a JSON API
// answers: an HTML page (a proxy's or a login page served with 200), an
// empty body where JSON was announced, or text that is not JSON (truncated
// or otherwise). Each is a transient failure, so the page is retried and
// nothing of it is stored. Other media types (multipart batches, files)
// pass through. The body checked is handed on unchanged.
func checkBody(req *http.Request, resp *http.Response) error {
	if resp.StatusCode < 200 || resp.StatusCode >= 300 || resp.StatusCode == http.StatusNoContent ||
		resp.StatusCode == http.StatusResetContent || req.Method == http.MethodHead || resp.Body == nil {
		return nil
	}
	ctype := strings.ToLower(resp.Header.Get("Content-Type"))
	if mt, _, err := mime.ParseMediaType(ctype); err == nil {
		ctype = mt
	}
	jsonType := ctype == "application/json" || strings.HasSuffix(ctype, "+json")
	if !jsonType && ctype != "" && !strings.HasPrefix(ctype, "text/") {
		return nil
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxCheckedBody+1))
	if err != nil {
		_ = resp.Body.Close()
		return fmt.Errorf("%w: reading the response body: %s", ErrTransient, describeNetErr(err))
	}
	if len(b) > maxCheckedBody {
		resp.Body = readCloser{io.MultiReader(bytes.NewReader(b), resp.Body), resp.Body}
		return nil
	}
	_ = resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(b))
	trimmed := bytes.TrimSpace(b)
	switch {
	case ctype == "text/html" || bytes.HasPrefix(trimmed, []byte("<")):
		return fmt.Errorf("%w: HTTP %d with an HTML page instead of JSON", ErrTransient, resp.StatusCode)
	case len(trimmed) == 0 && (jsonType || req.Method == http.MethodGet):
		return fmt.Errorf("%w: HTTP %d with an empty body", ErrTransient, resp.StatusCode)
	case len(trimmed) > 0 && !json.Valid(trimmed):
		return fmt.Errorf("%w: HTTP %d with a body that is not valid JSON (%s, %d bytes; truncated?)", ErrTransient, resp.StatusCode, mediaName(ctype), len(b))
	}
	return nil
}

func mediaName(ctype string) string {
	if ctype == "" {
		return "no content type"
	}
	return ctype
}

type readCloser struct {
	io.Reader
	io.Closer
}

// sameOrigin reports whether req goes to the origin (scheme, host and port)
// of the request that started its redirect chain. The http.Client sets
// req.Response on every request it makes to follow a redirect, and that
// response's Request is the previous hop, so the chain leads back to the
// caller's request. Same-origin redirects (GitHub's 301 for a renamed
// repository) stay authorized.
func sameOrigin(req *http.Request) bool {
	first := req
	for first.Response != nil && first.Response.Request != nil {
		first = first.Response.Request
	}
	return first == req || origin(first.URL) == origin(req.URL)
}

func origin(u *url.URL) string {
	scheme := strings.ToLower(u.Scheme)
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[scheme]
	}
	return scheme + "://" + net.JoinHostPort(strings.ToLower(u.Hostname()), port)
}

func describeNetErr(err error) string {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return "connection closed"
	}
	// The system's reason (connection refused, reset by peer, no route to
	// host) says what went wrong without the URL, which may carry a
	// credential in its query.
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return "network error (" + errno.Error() + ")"
	}
	return "network error"
}

// ClassifyResponse is the default status mapping: 2xx/3xx ok; 401
// unauthorized; 403 rate limited when rate-limit headers say so, else
// forbidden; 404 not found; 429 rate limited (Retry-After or reset header);
// 408 and 5xx transient (rate limited when they carry Retry-After); other 4xx
// invalid configuration.
func ClassifyResponse(resp *http.Response) error {
	code := resp.StatusCode
	switch {
	case code < 400:
		return nil
	case code == http.StatusUnauthorized:
		return ErrUnauthorized
	case code == http.StatusForbidden:
		if d, ok := RateLimitDelay(resp.Header, time.Now()); ok {
			return &RateLimited{RetryAfter: d, Reason: "HTTP 403 with rate-limit headers"}
		}
		return ErrForbidden
	case code == http.StatusNotFound:
		return ErrNotFound
	case code == http.StatusTooManyRequests:
		d, _ := RateLimitDelay(resp.Header, time.Now())
		return &RateLimited{RetryAfter: d, Reason: "HTTP 429"}
	case code == http.StatusRequestTimeout || code >= 500:
		if d, ok := retryAfterHeader(resp.Header, time.Now()); ok {
			return &RateLimited{RetryAfter: d, Reason: fmt.Sprintf("HTTP %d with Retry-After", code)}
		}
		return fmt.Errorf("%w: HTTP %d", ErrTransient, code)
	default:
		return fmt.Errorf("%w: provider rejected the request (HTTP %d)", ErrInvalidConfig, code)
	}
}

// RateLimitDelay reads how long to wait from rate-limit headers: Retry-After
// (seconds or HTTP date), then a reset header when the remaining count is 0
// or absent: X-RateLimit-Reset as epoch seconds (GitHub) or ISO-8601 (Jira),
// or RateLimit-Reset as seconds from now (IETF draft). ok is false when the
// headers say nothing about a rate limit.
func RateLimitDelay(h http.Header, now time.Time) (time.Duration, bool) {
	if d, ok := retryAfterHeader(h, now); ok {
		return d, true
	}
	remaining := h.Get("X-RateLimit-Remaining")
	if remaining != "" && remaining != "0" {
		return 0, false
	}
	if reset := h.Get("X-RateLimit-Reset"); reset != "" {
		if d, ok := parseReset(reset, now); ok {
			return d, true
		}
	}
	if reset := h.Get("RateLimit-Reset"); reset != "" {
		if secs, err := strconv.Atoi(strings.TrimSpace(reset)); err == nil && secs >= 0 {
			return time.Duration(secs) * time.Second, true
		}
	}
	if remaining == "0" {
		return 0, true
	}
	return 0, false
}

func retryAfterHeader(h http.Header, now time.Time) (time.Duration, bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil && secs >= 0 {
		return time.Duration(secs * float64(time.Second)), true
	}
	if t, err := http.ParseTime(v); err == nil {
		return clampPositive(t.Sub(now)), true
	}
	return 0, false
}

func parseReset(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		// Epoch seconds are large; small numbers are seconds from now.
		if secs > 1_000_000_000 {
			return clampPositive(time.Unix(secs, 0).Sub(now)), true
		}
		return time.Duration(secs) * time.Second, true
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.000Z0700", "2006-01-02T15:04Z07:00"} {
		if t, err := time.Parse(layout, v); err == nil {
			return clampPositive(t.Sub(now)), true
		}
	}
	return 0, false
}

func clampPositive(d time.Duration) time.Duration {
	if d < 0 {
		return 0
	}
	return d
}

// Limiters holds one token-bucket limiter per (provider, external account),
// shared by every caller in the process.
type Limiters struct {
	mu sync.Mutex
	m  map[string]*rate.Limiter
}

// NewLimiters returns an empty set.
func NewLimiters() *Limiters { return &Limiters{m: map[string]*rate.Limiter{}} }

// For returns the limiter of one external account, creating it from policy.
// A zero Rate means unlimited.
func (l *Limiters) For(provider, account string, p Policy) *rate.Limiter {
	key := provider + "\x00" + account
	l.mu.Lock()
	defer l.mu.Unlock()
	if lim, ok := l.m[key]; ok {
		return lim
	}
	r, b := p.Rate, p.Burst
	if r == 0 {
		r = rate.Inf
	}
	if b <= 0 {
		b = 1
	}
	lim := rate.NewLimiter(r, b)
	l.m[key] = lim
	return lim
}

func defaultTransport() http.RoundTripper {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 16
	t.ResponseHeaderTimeout = 45 * time.Second
	return t
}

// IsPermanent reports whether err should not be retried: unauthorized,
// forbidden, not found, invalid configuration. Rate limits, transient errors
// and cursor expiry are not permanent (the engine handles the latter).
func IsPermanent(err error) bool {
	switch Kind(err) {
	case ErrUnauthorized, ErrForbidden, ErrNotFound, ErrInvalidConfig:
		return true
	}
	return false
}

// CountRateLimited counts one answer of provider asking to slow down that
// no transport classifier saw (a throttle in a 200's body, read by the
// connector), in poblysh_provider_rate_limited_total, as the transports
// count the ones they see.
func CountRateLimited(provider string) {
	metrics.RateLimitHits.WithLabelValues(provider).Inc()
}
