package api

import (
	"encoding/json"
	"net/http"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/api/docui"
	"github.com/poblysh/poblysh/metrics"
)

// Infrastructure routes that are not API operations (not in swagger.yml).
var infraRoutes = map[string]bool{"metrics": true, "specJSON": true, "specYAML": true, "docs": true, "docsAssets": true}

// addRoutes is the whole API surface in one place. Each route's name is its
// operationId in swagger.yml; TestRoutesMatchSpec keeps the two in step.
func addRoutes(r *mux.Router, d Deps, specJSON json.RawMessage) {
	const v1 = "/api/v1"
	route := func(name, method, path string, h http.Handler) {
		r.Handle(path, h).Methods(method).Name(name)
	}

	// System (public).
	route("getHealth", http.MethodGet, "/healthz", handleHealth())
	route("getReadiness", http.MethodGet, "/readyz", handleReadiness(d.DB, d.TemporalHealth))

	// Tenants and keys.
	route("createTenant", http.MethodPost, v1+"/tenants", adminOnly(d, handleTenantCreate(d.Log, d.DB, d.MaxBodyBytes)))
	route("listApiKeys", http.MethodGet, v1+"/api-keys", anyKey(d, handleAPIKeyList(d.DB)))
	route("createApiKey", http.MethodPost, v1+"/api-keys", anyKey(d, handleAPIKeyCreate(d.DB, d.MaxBodyBytes)))
	route("revokeApiKey", http.MethodDelete, v1+"/api-keys/{id}", anyKey(d, handleAPIKeyRevoke(d.DB)))

	// Providers and connections.
	route("listProviders", http.MethodGet, v1+"/providers", anyKey(d, handleProviderList(d.Registry)))
	route("startConnect", http.MethodPost, v1+"/connect/{provider}", tenantOnly(d, handleConnectStart(d)))
	route("completeConnect", http.MethodGet, v1+"/connect/{provider}/callback", handleConnectCallback(d))
	route("listConnections", http.MethodGet, v1+"/connections", tenantOnly(d, handleConnectionList(d)))
	route("getConnection", http.MethodGet, v1+"/connections/{id}", tenantOnly(d, handleConnectionGet(d)))
	route("updateConnection", http.MethodPatch, v1+"/connections/{id}", tenantOnly(d, handleConnectionUpdate(d)))
	route("deleteConnection", http.MethodDelete, v1+"/connections/{id}", tenantOnly(d, handleConnectionDelete(d)))

	// Jobs.
	route("startSync", http.MethodPost, v1+"/sync/{provider}", tenantOnly(d, handleSyncStart(d)))
	route("listJobs", http.MethodGet, v1+"/jobs", tenantOnly(d, handleJobList(d)))
	route("getJob", http.MethodGet, v1+"/jobs/{id}", tenantOnly(d, handleJobGet(d)))

	// Webhooks (public: authenticated by the provider's signature).
	route("receiveWebhook", http.MethodPost, v1+"/webhooks/{provider}", handleWebhook(d.Log, d.Engine, d.WebhookMaxBytes))

	// Signals.
	route("listSignals", http.MethodGet, v1+"/signals", tenantOnly(d, handleSignalList(d.DB)))
	route("getSignal", http.MethodGet, v1+"/signals/{id}", tenantOnly(d, handleSignalGet(d.DB)))

	// Infrastructure: metrics, the spec, and the offline Swagger UI.
	r.Handle("/metrics", promhttp.HandlerFor(metrics.Registry, promhttp.HandlerOpts{})).Methods(http.MethodGet).Name("metrics")
	r.Handle("/swagger.json", serveBytes("application/json", specJSON)).Methods(http.MethodGet).Name("specJSON")
	r.Handle("/swagger.yml", serveBytes("application/yaml", poblysh.SwaggerYAML)).Methods(http.MethodGet).Name("specYAML")
	r.Handle(docui.Path, docui.Handler("/swagger.json")).Methods(http.MethodGet, http.MethodHead).Name("docs")
	r.PathPrefix(docui.AssetsPath).Handler(docui.Assets()).Methods(http.MethodGet, http.MethodHead).Name("docsAssets")
}

func serveBytes(contentType string, b []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentType)
		_, _ = w.Write(b)
	})
}
