package api

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-openapi/loads"
	"github.com/gorilla/mux"
	"github.com/sirupsen/logrus"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/metrics"
)

// This file holds what keeps the service to its contract beyond single
// handlers: query parameters the spec does not declare are refused, list
// cursors are bound to the filters they were issued for, 405s name the
// allowed methods, and request ids have one format.

// queryPassthrough is the vendor extension of an operation whose query
// string belongs to the provider (the OAuth callback, webhooks): it is not
// checked against the declared parameters.
const queryPassthrough = "x-query-passthrough"

// queryIgnoreUnknown is the vendor extension of an operation whose URL is
// handed to people (the start page, mailed and pasted, and its click, a
// form posted to the page's URL): mail tools and trackers append their
// own parameters (utm_*, fbclid...), so parameters it does not declare are
// ignored rather than refused. Its declared ones are still taken once.
const queryIgnoreUnknown = "x-query-ignore-unknown"

// queryRule is what an operation's query string may hold.
type queryRule struct {
	// any: the query string is not checked (queryPassthrough).
	any bool
	// names are the parameters the operation declares.
	names map[string]bool
	// ignoreUnknown: other parameters are ignored (queryIgnoreUnknown),
	// and so is a malformed pair (the handler never sees it).
	ignoreUnknown bool
}

// operationQuery is declaredQuery of the embedded swagger.yml.
var operationQuery = sync.OnceValue(func() map[string]queryRule {
	doc, err := loads.Analyzed(poblysh.SwaggerYAML, "")
	if err != nil {
		panic("swagger.yml: " + err.Error()) // TestSwaggerSpecIsValid
	}
	return declaredQuery(doc)
})

// queryOf is the query rule of operation name: no parameter at all for a
// route swagger.yml does not know.
func queryOf(name string) queryRule {
	if rule, ok := operationQuery()[name]; ok {
		return rule
	}
	return queryRule{names: map[string]bool{}}
}

// declaredQuery maps each operationId to its query rule in swagger.yml.
func declaredQuery(doc *loads.Document) map[string]queryRule {
	out := map[string]queryRule{}
	for method, byPath := range doc.Analyzer.Operations() {
		for p, op := range byPath {
			if v, ok := op.Extensions.GetBool(queryPassthrough); ok && v {
				out[op.ID] = queryRule{any: true}
				continue
			}
			rule := queryRule{names: map[string]bool{}}
			rule.ignoreUnknown, _ = op.Extensions.GetBool(queryIgnoreUnknown)
			for _, prm := range doc.Analyzer.ParamsFor(method, p) {
				if prm.In == "query" {
					rule.names[prm.Name] = true
				}
			}
			out[op.ID] = rule
		}
	}
	return out
}

// initRouteMetrics creates the request-duration series of every
// operation, with its first documented success status, at zero.
func initRouteMetrics(doc *loads.Document) {
	for method, byPath := range doc.Analyzer.Operations() {
		for _, op := range byPath {
			best := 0
			if op.Responses != nil {
				for code := range op.Responses.StatusCodeResponses {
					if code >= 200 && code < 400 && (best == 0 || code < best) {
						best = code
					}
				}
			}
			if best != 0 {
				metrics.InitRoute(op.ID, strings.ToUpper(method), strconv.Itoa(best))
			}
		}
	}
}

// queryGuard answers 400 naming every query parameter the operation does
// not declare, so a typo such as `knid=` never silently widens a query
// (unless the operation ignores them, see queryIgnoreUnknown), and every
// declared one given more than once. It runs before authentication: a
// malformed request is refused as such. fail writes the error (the
// browser-facing routes answer a browser with a page).
func queryGuard(rule queryRule, log *logrus.Logger, fail func(http.ResponseWriter, *http.Request, *logrus.Logger, error), next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !rule.any && r.URL.RawQuery != "" {
			q, err := url.ParseQuery(r.URL.RawQuery)
			problems := map[string]string{}
			if err != nil && !rule.ignoreUnknown {
				problems["query"] = "the query string is malformed"
			}
			known := make([]string, 0, len(rule.names))
			for k := range rule.names {
				known = append(known, k)
			}
			sort.Strings(known)
			hint := "unknown query parameter"
			if len(known) > 0 {
				hint += "; this operation takes " + strings.Join(known, ", ")
			} else {
				hint += "; this operation takes none"
			}
			var unknown, repeated []string
			for k, vs := range q {
				switch {
				case !rule.names[k] && rule.ignoreUnknown:
				case !rule.names[k]:
					problems[clip(k, 64)] = hint
					unknown = append(unknown, clip(k, 64))
				case len(vs) > 1:
					// Every parameter takes one value; reading the first
					// would ignore the others without a word.
					problems[k] = fmt.Sprintf("given %d times; this parameter takes one value", len(vs))
					repeated = append(repeated, k)
				}
			}
			if len(problems) > 0 {
				sort.Strings(unknown)
				sort.Strings(repeated)
				msg := "unknown query parameters: " + strings.Join(unknown, ", ")
				switch {
				case len(unknown) == 0 && len(repeated) > 0:
					msg = "query parameters given more than once: " + strings.Join(repeated, ", ")
				case len(unknown) == 0:
					msg = "the query string is malformed"
				}
				fail(w, r, log, poblysh.Invalid(msg, problems))
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// cursorFree are the query parameters a list cursor does not depend on:
// the page position, its size and how long to wait for it.
var cursorFree = map[string]bool{"cursor": true, "limit": true, "wait": true}

// filterPrint is the fingerprint of a list request's filters: every query
// parameter but cursorFree ones, sorted. It is "" without filters.
func filterPrint(r *http.Request) string {
	q := r.URL.Query()
	var keys []string
	for k := range q {
		if !cursorFree[k] {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return ""
	}
	sort.Strings(keys)
	h := sha256.New()
	for _, k := range keys {
		vs := append([]string(nil), q[k]...)
		sort.Strings(vs)
		for _, v := range vs {
			h.Write([]byte(k))
			h.Write([]byte{0})
			h.Write([]byte(v))
			h.Write([]byte{0})
		}
	}
	return hex.EncodeToString(h.Sum(nil)[:6])
}

// cursorSep separates the store's cursor from the filter fingerprint; it is
// outside the base64url alphabet the store's cursors use.
const cursorSep = "."

// bindCursor returns the cursor a list answers with: the store's cursor
// and the fingerprint of the filters it was issued for ("" stays "").
func bindCursor(r *http.Request, next string) string {
	if next == "" {
		return ""
	}
	if fp := filterPrint(r); fp != "" {
		return next + cursorSep + fp
	}
	return next
}

// boundCursor reads the request's cursor (at most max bytes), checks that
// it was issued for the request's filters and returns the store's cursor.
func (q *query) boundCursor(max int) string {
	c := q.str("cursor", max)
	if c == "" || q.problems["cursor"] != "" {
		return c
	}
	inner, fp, _ := strings.Cut(c, cursorSep)
	if fp != filterPrint(q.r) {
		q.problems["cursor"] = "was issued for other filters: pass the same filters as the request that returned it"
		return ""
	}
	return inner
}

// allowedMethods lists the methods r's path is routed for, for the Allow
// header of a 405.
func allowedMethods(router *mux.Router, r *http.Request) string {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions} {
		probe := r.Clone(r.Context())
		probe.Method = m
		var match mux.RouteMatch
		if router.Match(probe, &match) && match.MatchErr == nil {
			allow = append(allow, m)
		}
	}
	return strings.Join(allow, ", ")
}

// newRequestID returns a ULID (26 characters of Crockford base32: 48 bits
// of milliseconds since the epoch, then 80 random bits), so request ids
// sort by time in logs.
func newRequestID() string {
	const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	var b [16]byte
	ms := uint64(time.Now().UnixMilli())
	for i := 5; i >= 0; i-- {
		b[i] = byte(ms)
		ms >>= 8
	}
	_, _ = rand.Read(b[6:])
	// 128 bits as 26 base32 digits, the first holding the top 3 bits.
	var out [26]byte
	hi, lo := uint64(0), uint64(0)
	for i := 0; i < 8; i++ {
		hi = hi<<8 | uint64(b[i])
		lo = lo<<8 | uint64(b[i+8])
	}
	for i := 25; i >= 0; i-- {
		out[i] = alphabet[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(out[:])
}
