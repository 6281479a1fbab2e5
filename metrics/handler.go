package metrics

import (
	"net/http"
	"net/http/pprof"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Handler serves /metrics and the runtime profiles under /debug/pprof/ for
// the operator's address (POBLYSH_METRICS_ADDR), never the public API port:
// series carry connection ids of every tenant, and profiles show the
// process's internals.
//
// Importing net/http/pprof also registers its handlers on
// http.DefaultServeMux; nothing in the service serves that mux.
func Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("/debug/pprof/", pprof.Index) // named profiles: heap, goroutine, block, ...
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// knownMethods are the HTTP methods a metric label may name as they are.
var knownMethods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodPost: true, http.MethodPut: true,
	http.MethodPatch: true, http.MethodDelete: true, http.MethodConnect: true,
	http.MethodOptions: true, http.MethodTrace: true,
}

// Method is the label value for a request method: the method itself when
// it is a standard one, else "other", so a client sending made-up methods
// cannot create new series.
func Method(m string) string {
	if knownMethods[m] {
		return m
	}
	return "other"
}
