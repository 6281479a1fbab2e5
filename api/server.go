// Package api is the REST surface: gorilla/mux routes named after their
// swagger.yml operationIds (routes.go lists them all), handlers as functions
// that receive exactly the dependencies they use, one place that encodes and
// decodes, and one table that maps domain errors to HTTP statuses.
package api

import (
	"context"
	"net/http"

	"github.com/go-openapi/loads"
	"github.com/gorilla/mux"
	"github.com/sirupsen/logrus"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/lifecycle"
)

// Deps are the API's dependencies.
type Deps struct {
	Log      *logrus.Logger
	DB       *db.DB
	Registry *connectors.Registry
	// Connections runs the connection use cases: connect and reconnect
	// (start page, callback), update, delete, sync on request.
	Connections *lifecycle.Service
	// Jobs reads Temporal's side of jobs (engine.Engine).
	Jobs Jobs
	// Tenants runs a tenant's deletion (engine.Engine).
	Tenants Tenants
	// TenantSyncConcurrency is POBLYSH_TENANT_SYNC_CONCURRENCY, the cap of a
	// tenant without its own (shown by the tenant admin routes).
	TenantSyncConcurrency int
	// Webhooks takes in provider deliveries (webhook.Intake).
	Webhooks Webhooks
	// AdminKey manages tenants; it is compared in constant time.
	AdminKey string
	// MaxBodyBytes limits JSON request bodies, WebhookMaxBytes webhook bodies.
	MaxBodyBytes    int64
	WebhookMaxBytes int64
	// TemporalHealth checks Temporal for /readyz.
	TemporalHealth func(context.Context) error
	// Draining, when set and true, makes /readyz answer 503 "draining":
	// the process was told to stop and serves on only until the load
	// balancer has taken it out.
	Draining func() bool
	// Feed wakes long polls on the feed (db.FeedNotifier); nil answers
	// the wait parameter at once.
	Feed FeedWaiter
	// Keys resolves tenant API keys (db.APIKeyCache: verified keys from
	// memory, emptied by LISTEN/NOTIFY on revocation); nil asks Postgres
	// on every request (and a revocation answers at once).
	Keys KeyCache
	// Timeouts are each route's deadlines and the server's (NewHTTPServer);
	// zero fields take DefaultTimeouts.
	Timeouts Timeouts
}

// KeyCache resolves tenant API keys from a cache (db.APIKeyCache).
type KeyCache interface {
	Authenticate(ctx context.Context, key string) (tenantID string, err error)
	// Revoked, after a revocation committed, forgets every cached key of
	// this process and waits (bounded) until its listener has received
	// the revocation's notification; the error says it did not.
	Revoked(ctx context.Context) error
}

// NewServer builds the HTTP handler: the router with every route, wrapped
// in panic recovery, request ids, access logs and request metrics.
func NewServer(d Deps) (http.Handler, error) {
	r, d, err := newRouter(d)
	if err != nil {
		return nil, err
	}
	return wrap(d, r), nil
}

// wrap adds the middleware every request passes through, outermost first:
// the connection's deadlines of the default route deadline (each route
// sets its own, addRoutes), request ids, the access log and the
// recoverer, which sits inside the access log so a panic's 500 is logged
// and counted like any other response.
func wrap(d Deps, r http.Handler) http.Handler {
	return withConnDeadlines(d.Timeouts.Request, d.Timeouts.Grace, requestID(accessLog(d.Log, recoverer(d.Log, r))))
}

// newRouter applies the defaults to d and builds the router with every
// route (TestRoutesMatchSpec walks it).
func newRouter(d Deps) (*mux.Router, Deps, error) {
	if d.Log == nil {
		d.Log = logrus.StandardLogger()
	}
	if d.MaxBodyBytes <= 0 {
		d.MaxBodyBytes = 1 << 20
	}
	if d.WebhookMaxBytes <= 0 {
		d.WebhookMaxBytes = 5 << 20
	}
	d.Timeouts = d.Timeouts.orDefault()
	doc, err := loads.Analyzed(poblysh.SwaggerYAML, "")
	if err != nil {
		return nil, d, err
	}
	initRouteMetrics(doc)
	// SkipClean: a path that is not clean ("/api/v1//connections",
	// "/api/v1/tenants/../api-keys") is not a route; gorilla/mux answered
	// it with a 301 to the cleaned path, without the error shape, which a
	// client follows with a GET even after a POST.
	r := mux.NewRouter().SkipClean(true)
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		writeError(w, req, d.Log, &poblysh.Error{Code: poblysh.ENOTFOUND, Message: "no such endpoint: " + req.Method + " " + req.URL.Path})
	})
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Allow", allowedMethods(r, req))
		writeError(w, req, d.Log, &poblysh.Error{Code: poblysh.EMETHOD, Message: "method " + req.Method + " is not allowed here"})
	})
	r.Use(routeNamer)
	addRoutes(r, d, doc.Raw())
	return r, d, nil
}
