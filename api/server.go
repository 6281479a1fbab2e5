// Package api is the REST surface: gorilla/mux routes named after their
// swagger.yml operationIds (routes.go lists them all), handlers as functions
// that receive exactly the dependencies they use, one place that encodes and
// decodes, and one table that maps domain errors to HTTP statuses.
package api

import (
	"context"
	"net/http"
	"time"

	"github.com/go-openapi/loads"
	"github.com/gorilla/mux"
	"github.com/sirupsen/logrus"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/engine"
	"github.com/poblysh/poblysh/vault"
)

// Deps are the API's dependencies.
type Deps struct {
	Log      *logrus.Logger
	DB       *db.DB
	Engine   *engine.Engine
	Registry *connectors.Registry
	KeyRing  *vault.KeyRing
	// AdminKey manages tenants; it is compared in constant time.
	AdminKey string
	// MaxBodyBytes limits JSON request bodies, WebhookMaxBytes webhook bodies.
	MaxBodyBytes    int64
	WebhookMaxBytes int64
	// RedirectAllowlist holds the URL prefixes a connect redirect_uri may use.
	RedirectAllowlist []string
	// StateTTL is how long an OAuth state stays valid.
	StateTTL time.Duration
	// TemporalHealth checks Temporal for /readyz.
	TemporalHealth func(context.Context) error
}

// NewServer builds the HTTP handler: the router with every route, wrapped
// in panic recovery, request ids, access logs and request metrics.
func NewServer(d Deps) (http.Handler, error) {
	r, d, err := newRouter(d)
	if err != nil {
		return nil, err
	}
	return wrap(d.Log, r), nil
}

// wrap adds the middleware every request passes through, outermost first.
// The recoverer sits inside the access log so a panic's 500 is logged and
// counted like any other response.
func wrap(log *logrus.Logger, r http.Handler) http.Handler {
	return requestID(accessLog(log, recoverer(log, r)))
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
	if d.StateTTL <= 0 {
		d.StateTTL = 10 * time.Minute
	}
	doc, err := loads.Analyzed(poblysh.SwaggerYAML, "")
	if err != nil {
		return nil, d, err
	}
	r := mux.NewRouter()
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		writeError(w, req, d.Log, &poblysh.Error{Code: poblysh.ENOTFOUND, Message: "no such endpoint: " + req.Method + " " + req.URL.Path})
	})
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		writeErrorStatus(w, req, http.StatusMethodNotAllowed, "method_not_allowed", "method "+req.Method+" is not allowed here")
	})
	r.Use(routeNamer)
	addRoutes(r, d, doc.Raw())
	return r, d, nil
}
