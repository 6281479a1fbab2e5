package api

import (
	"context"
	"crypto/subtle"
	"fmt"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"github.com/sirupsen/logrus"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/metrics"
)

type ctxKey int

const (
	keyRequestID ctxKey = iota
	keyRoute
	keyPrincipal
	keyLogger
)

type contextT = context.Context

// logOf returns the request's logger (set by accessLog).
func logOf(r *http.Request) *logrus.Logger {
	if l, ok := r.Context().Value(keyLogger).(*logrus.Logger); ok {
		return l
	}
	return logrus.StandardLogger()
}

// routeInfo is filled by routeNamer (inside the router) and read by
// accessLog (outside it).
type routeInfo struct {
	name     string
	tenantID string
}

func requestIDOf(r *http.Request) string {
	id, _ := r.Context().Value(keyRequestID).(string)
	return id
}

// requestID assigns every request an id (or keeps a sane incoming
// X-Request-Id) and echoes it in the response.
func requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if len(id) == 0 || len(id) > 64 || strings.ContainsFunc(id, func(c rune) bool { return c < 0x21 || c > 0x7e }) {
			id = newRequestID()
		}
		w.Header().Set("X-Request-Id", id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), keyRequestID, id)))
	})
}

// routeNamer records the matched route's name for logs and metrics.
func routeNamer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ri, ok := r.Context().Value(keyRoute).(*routeInfo); ok {
			if cur := mux.CurrentRoute(r); cur != nil {
				ri.name = cur.GetName()
			}
		}
		next.ServeHTTP(w, r)
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection (a route's
// deadline, withDeadline).
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += n
	return n, err
}

// accessLog writes one structured line per request and observes its
// duration by route and status. The query string is never logged: OAuth
// callbacks carry codes and states there.
func accessLog(log *logrus.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ri := &routeInfo{name: "unmatched"}
		sw := &statusWriter{ResponseWriter: w}
		ctx := context.WithValue(context.WithValue(r.Context(), keyRoute, ri), keyLogger, log)
		next.ServeHTTP(sw, r.WithContext(ctx))
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		d := time.Since(start)
		metrics.HTTPDuration.WithLabelValues(ri.name, metrics.Method(r.Method), strconv.Itoa(sw.status)).Observe(d.Seconds())
		if ri.name == "getHealth" || !log.IsLevelEnabled(logrus.InfoLevel) {
			// Probes would drown the log. Below info (the benchmarks'
			// warn) the line's fields are not even built: logrus builds
			// an entry and copies the map before it looks at the level.
			return
		}
		f := logrus.Fields{
			"request_id": requestIDOf(r), "method": r.Method, "path": r.URL.Path, "route": ri.name,
			"status": sw.status, "bytes": sw.bytes, "duration_ms": float64(d.Microseconds()) / 1000,
		}
		if ri.tenantID != "" {
			f["tenant_id"] = ri.tenantID
		}
		log.WithFields(f).Info("http request")
	})
}

// recoverer turns a panic into a 500 with the request id, never internals.
func recoverer(log *logrus.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				log.WithFields(logrus.Fields{"request_id": requestIDOf(r), "panic": fmt.Sprint(v), "stack": string(debug.Stack())}).Error("panic serving request")
				writeError(w, r, log, fmt.Errorf("panic: %v", v))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// principal is who a request acts as.
type principal struct {
	admin    bool
	tenantID string
}

func principalOf(r *http.Request) principal {
	p, _ := r.Context().Value(keyPrincipal).(principal)
	return p
}

// bearerChallenge is the WWW-Authenticate of a 401 (writeError), which RFC
// 9110 §11.6.1 requires to carry a challenge. Tenant and admin keys are
// both sent as Authorization: Bearer, so one challenge names both.
const bearerChallenge = `Bearer realm="poblysh"`

var errUnauthorized = &poblysh.Error{Code: poblysh.EUNAUTHORIZED, Message: "missing or invalid API key (send Authorization: Bearer <key>)"}

// authenticate resolves the bearer key: the admin key, or a tenant key.
// More than one Authorization header is refused: which one a request acts
// as would be a guess.
func authenticate(d Deps, r *http.Request) (principal, error) {
	if len(r.Header.Values("Authorization")) > 1 {
		return principal{}, errUnauthorized
	}
	h := r.Header.Get("Authorization")
	scheme, key, ok := strings.Cut(h, " ")
	key = strings.TrimSpace(key)
	if !ok || !strings.EqualFold(scheme, "Bearer") || key == "" || len(key) > 256 {
		return principal{}, errUnauthorized
	}
	if d.AdminKey != "" && subtle.ConstantTimeCompare([]byte(key), []byte(d.AdminKey)) == 1 {
		return principal{admin: true}, nil
	}
	if !strings.HasPrefix(key, "pbk_") {
		return principal{}, errUnauthorized
	}
	var tenantID string
	var err error
	if d.Keys != nil {
		tenantID, err = d.Keys.Authenticate(r.Context(), key)
	} else {
		err = d.DB.WithSystem(r.Context(), func(tx *db.Tx) (err error) {
			tenantID, _, err = tx.AuthenticateAPIKey(r.Context(), key)
			return err
		})
	}
	if err != nil {
		if poblysh.ErrorCode(err) == poblysh.EUNAUTHORIZED {
			return principal{}, errUnauthorized
		}
		return principal{}, err
	}
	return principal{tenantID: tenantID}, nil
}

// stillAuthorized checks a request's key again while the request lasts (a
// long poll): it must still be valid, and still the same principal's, or
// the request ends with 401 as if it had just arrived.
func stillAuthorized(d Deps) func(*http.Request) error {
	return func(r *http.Request) error {
		p, err := authenticate(d, r)
		if err == nil && p != principalOf(r) {
			err = errUnauthorized
		}
		return err
	}
}

func withAuth(d Deps, allow func(principal) bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := authenticate(d, r)
		if err == nil && !allow(p) {
			err = errUnauthorized
		}
		if err != nil {
			writeError(w, r, d.Log, err)
			return
		}
		if ri, ok := r.Context().Value(keyRoute).(*routeInfo); ok {
			ri.tenantID = p.tenantID
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), keyPrincipal, p)))
	})
}

// adminOnly admits the admin key only.
func adminOnly(d Deps, next http.Handler) http.Handler {
	return withAuth(d, func(p principal) bool { return p.admin }, next)
}

// tenantOnly admits tenant keys only (the admin key acts on no tenant).
func tenantOnly(d Deps, next http.Handler) http.Handler {
	return withAuth(d, func(p principal) bool { return !p.admin && p.tenantID != "" }, next)
}

// anyKey admits the admin key or a tenant key.
func anyKey(d Deps, next http.Handler) http.Handler {
	return withAuth(d, func(p principal) bool { return p.admin || p.tenantID != "" }, next)
}
