package api

import (
	"encoding/json"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/api/docui"
)

// Infrastructure routes that are not API operations (not in swagger.yml).
var infraRoutes = map[string]bool{"specJSON": true, "specYAML": true, "docs": true, "docsSlash": true, "docsAssets": true}

// withSideEffects are the GET operations that act (a browser's step of the
// OAuth flow: the start page binds the session, the callback spends the
// state and the code): they take no HEAD, which must be safe.
var withSideEffects = map[string]bool{"openConnectPage": true, "completeConnect": true}

// browserFacing are the connect routes a user's browser opens: every one of
// their answers, success or error, HTML or JSON, carries pageHeaders, and
// their errors, a refused query string's included, are a page for a
// browser (writeConnectError).
var browserFacing = map[string]bool{"openConnectPage": true, "approveConnect": true, "completeConnect": true}

// addRoutes is the whole API surface in one place. Each route's name is its
// operationId in swagger.yml; TestRoutesMatchSpec keeps the two in step.
func addRoutes(r *mux.Router, d Deps, specJSON json.RawMessage) {
	const v1 = "/api/v1"
	route := func(name, method, path string, h http.Handler) {
		methods := []string{method}
		if method == http.MethodGet && !withSideEffects[name] {
			// HEAD wherever GET works (RFC 9110 §9.3.2; load balancers
			// probe /healthz with it): the same answer without a body,
			// which net/http drops.
			methods = append(methods, http.MethodHead)
		}
		if browserFacing[name] {
			h = withPageHeaders(queryGuard(queryOf(name), d.Log, writeConnectError, h))
		} else {
			h = queryGuard(queryOf(name), d.Log, writeError, h)
		}
		h = withDeadline(d.Timeouts.routeDeadline(name), d.Timeouts.Grace, h)
		r.Handle(path, h).Methods(methods...).Name(name)
	}

	// System (public).
	route("getHealth", http.MethodGet, "/healthz", handleHealth())
	route("getReadiness", http.MethodGet, "/readyz", handleReadiness(d.DB, d.TemporalHealth, d.Draining))

	// Tenants and keys.
	route("createTenant", http.MethodPost, v1+"/tenants", adminOnly(d, handleTenantCreate(d.Log, d.DB, d.MaxBodyBytes)))
	route("listTenants", http.MethodGet, v1+"/tenants", adminOnly(d, handleTenantList(d.Log, d.DB, d.TenantSyncConcurrency)))
	route("getTenant", http.MethodGet, v1+"/tenants/{id}", adminOnly(d, handleTenantGet(d.Log, d.DB, d.TenantSyncConcurrency)))
	route("updateTenant", http.MethodPatch, v1+"/tenants/{id}", adminOnly(d, handleTenantUpdate(d.Log, d.DB, d.TenantSyncConcurrency, d.MaxBodyBytes)))
	route("deleteTenant", http.MethodDelete, v1+"/tenants/{id}", adminOnly(d, handleTenantDelete(d.Log, d.DB, d.Tenants, d.Jobs, d.Keys)))
	route("listApiKeys", http.MethodGet, v1+"/api-keys", anyKey(d, handleAPIKeyList(d.DB)))
	route("createApiKey", http.MethodPost, v1+"/api-keys", anyKey(d, handleAPIKeyCreate(d.DB, d.MaxBodyBytes)))
	route("revokeApiKey", http.MethodDelete, v1+"/api-keys/{id}", anyKey(d, handleAPIKeyRevoke(d.DB, d.Keys)))

	// Providers and connections.
	route("listProviders", http.MethodGet, v1+"/providers", anyKey(d, handleProviderList(d.Registry)))
	route("startConnect", http.MethodPost, v1+"/connect/{provider}", tenantOnly(d, handleConnectStart(d.Log, d.Registry, d.Connections, d.MaxBodyBytes)))
	route("openConnectPage", http.MethodGet, v1+"/connect/{provider}/start", handleConnectPage(d.Log, d.Registry, d.Connections))
	route("approveConnect", http.MethodPost, v1+"/connect/{provider}/start", handleConnectApprove(d.Log, d.Registry, d.Connections))
	route("completeConnect", http.MethodGet, v1+"/connect/{provider}/callback", handleConnectCallback(d.Log, d.Registry, d.Connections, d.DB))
	route("listConnections", http.MethodGet, v1+"/connections", tenantOnly(d, handleConnectionList(d.Log, d.DB, d.Registry)))
	route("getConnection", http.MethodGet, v1+"/connections/{id}", tenantOnly(d, handleConnectionGet(d.Log, d.DB, d.Registry, d.Connections)))
	route("updateConnection", http.MethodPatch, v1+"/connections/{id}", tenantOnly(d, handleConnectionUpdate(d.Log, d.DB, d.Registry, d.Connections, d.MaxBodyBytes)))
	route("deleteConnection", http.MethodDelete, v1+"/connections/{id}", tenantOnly(d, handleConnectionDelete(d.Log, d.Connections)))
	route("reconnectConnection", http.MethodPost, v1+"/connections/{id}/reconnect", tenantOnly(d, handleConnectionReconnect(d.Log, d.Connections, d.MaxBodyBytes)))

	// Jobs.
	route("startSync", http.MethodPost, v1+"/sync/{provider}", tenantOnly(d, handleSyncStart(d.Log, d.Registry, d.Connections, d.Jobs, d.MaxBodyBytes)))
	route("listJobs", http.MethodGet, v1+"/jobs", anyKey(d, handleJobList(d.Log, d.DB, d.Jobs)))
	route("getJob", http.MethodGet, v1+"/jobs/{id}", anyKey(d, handleJobGet(d.Log, d.DB, d.Jobs)))

	// Webhooks (public: authenticated by the provider's signature).
	route("receiveWebhook", http.MethodPost, v1+"/webhooks/{provider}", handleWebhook(d.Log, d.Registry, d.Webhooks, d.WebhookMaxBytes))

	// Signals.
	route("listSignals", http.MethodGet, v1+"/signals", tenantOnly(d, handleSignalList(d.DB, d.Feed, stillAuthorized(d))))
	route("getSignal", http.MethodGet, v1+"/signals/{id}", tenantOnly(d, handleSignalGet(d.DB)))

	// Infrastructure: the spec and the offline Swagger UI. Metrics and
	// profiles are not here: they are served on POBLYSH_METRICS_ADDR only.
	r.Handle("/swagger.json", serveBytes("application/json", specJSON)).Methods(http.MethodGet, http.MethodHead).Name("specJSON")
	r.Handle("/swagger.yml", serveBytes("application/yaml", poblysh.SwaggerYAML)).Methods(http.MethodGet, http.MethodHead).Name("specYAML")
	r.Handle(docui.Path, docui.Handler("/swagger.json")).Methods(http.MethodGet, http.MethodHead).Name("docs")
	r.Handle(docui.Path+"/", http.RedirectHandler(docui.Path, http.StatusMovedPermanently)).Methods(http.MethodGet, http.MethodHead).Name("docsSlash")
	r.PathPrefix(docui.AssetsPath).Handler(docui.Assets()).Methods(http.MethodGet, http.MethodHead).Name("docsAssets")
}

func serveBytes(contentType string, b []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentType)
		_, _ = w.Write(b)
	})
}
