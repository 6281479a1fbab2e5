// Package metrics defines every Prometheus metric the service exports, in one
// place, registered on one registry that /metrics serves.
package metrics

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Registry is the process-wide registry served at /metrics.
var Registry = prometheus.NewRegistry()

var (
	// HTTPDuration measures API request latency by route name and status.
	HTTPDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "poblysh_http_request_duration_seconds",
		Help:    "HTTP request duration by route (swagger operationId) and status code.",
		Buckets: prometheus.DefBuckets,
	}, []string{"route", "method", "status"})

	// JobsTotal counts finished jobs by provider, kind and final status.
	JobsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "poblysh_jobs_total",
		Help: "Jobs finished, by provider, kind and status.",
	}, []string{"provider", "kind", "status"})

	// JobDuration measures job wall time from start to finish.
	JobDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "poblysh_job_duration_seconds",
		Help:    "Job duration from start to finish, by provider and kind.",
		Buckets: []float64{0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 14400},
	}, []string{"provider", "kind"})

	// PagesTotal counts pages fetched by sync activities.
	PagesTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "poblysh_sync_pages_total",
		Help: "Pages fetched and stored by sync activities, by provider.",
	}, []string{"provider"})

	// SignalsStored counts Signals inserted, by provider (source) and kind.
	SignalsStored = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "poblysh_signals_stored_total",
		Help: "Signals stored, by provider and kind.",
	}, []string{"provider", "kind"})

	// SignalDuplicates counts Signals skipped because their dedupe key existed.
	SignalDuplicates = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "poblysh_signals_duplicate_total",
		Help: "Signals not stored because the same happening was already stored, by provider.",
	}, []string{"provider"})

	// RateLimitHits counts provider responses that asked us to slow down,
	// each once, by the connectors' transport that received it (API and
	// token-endpoint calls alike, in activities or not).
	RateLimitHits = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "poblysh_provider_rate_limited_total",
		Help: "Provider rate-limit responses (429, 403 rate limit, Slack ratelimited), by provider.",
	}, []string{"provider"})

	// ProviderCalls counts outgoing provider API and token-endpoint calls by provider and status class.
	ProviderCalls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "poblysh_provider_api_calls_total",
		Help: "Provider API and token-endpoint calls, by provider and result (HTTP status, 'error' for transport failures, 'garbage' for a success body that is not JSON, or from a token endpoint not a token answer).",
	}, []string{"provider", "status"})

	// ActivityRetries counts activity attempts after the first (SyncPage's,
	// the only activity that counts them).
	ActivityRetries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "poblysh_activity_retries_total",
		Help: "Activity attempts beyond the first, by activity type (SyncPage).",
	}, []string{"activity"})

	// WebhookDeliveries counts inbound webhook deliveries by provider and result.
	WebhookDeliveries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "poblysh_webhook_deliveries_total",
		Help: "Inbound webhook deliveries by provider and result (accepted, duplicate, bad_signature, unroutable, ignored, challenge, error).",
	}, []string{"provider", "result"})

	// TokenRefreshes counts token refresh attempts by provider and result.
	TokenRefreshes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "poblysh_token_refreshes_total",
		Help: "OAuth token refreshes by provider and result (ok, transient, revoked, client_refused: the provider refused the OAuth client, not the grant).",
	}, []string{"provider", "result"})

	// Freshness is the age of the newest Signal per connection, in seconds,
	// measured when a sync pass finishes.
	Freshness = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "poblysh_connection_freshness_seconds",
		Help: "Seconds since the newest Signal's provider timestamp, per connection, at the end of its last sync pass.",
	}, []string{"provider", "connection_id"})

	// PollInterval is each connection's effective polling interval: for a
	// polling provider, the freshness SLA (a happening is stored within one
	// interval plus the time of a pass).
	PollInterval = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "poblysh_connection_poll_interval_seconds",
		Help: "Effective polling interval per connection, in seconds: the freshness SLA of polling providers.",
	}, []string{"provider", "connection_id"})

	// PollLag is, per connection, the largest lag from provider time to
	// storage among the Signals the last poll page stored that happened
	// after their stream's previous pass (its cursor last moved): the
	// freshness measured against the SLA (PollInterval).
	PollLag = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "poblysh_connection_poll_lag_seconds",
		Help: "Largest provider-to-storage lag, in seconds, of the Signals a connection's last poll page stored that happened since the stream's previous pass; compare with poblysh_connection_poll_interval_seconds.",
	}, []string{"provider", "connection_id"})

	// PollLagSeconds is the same lag for every polled Signal, by provider.
	PollLagSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "poblysh_signal_poll_lag_seconds",
		Help:    "Lag from the provider's event timestamp to storage, for Signals stored by polling that happened since their stream's previous pass.",
		Buckets: []float64{1, 5, 15, 30, 60, 120, 300, 600, 900, 1800, 3600},
	}, []string{"provider"})

	// IngestLag measures provider event time to storage time.
	IngestLag = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "poblysh_signal_ingest_lag_seconds",
		Help:    "Lag from the provider's event timestamp to storage, for webhook-delivered Signals.",
		Buckets: []float64{0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 3600},
	}, []string{"provider"})
)

// own are the service's metrics (Names lists them).
var own = []prometheus.Collector{
	HTTPDuration, JobsTotal, JobDuration, PagesTotal, SignalsStored, SignalDuplicates,
	RateLimitHits, ProviderCalls, ActivityRetries, WebhookDeliveries, TokenRefreshes,
	Freshness, IngestLag, PollInterval, PollLag, PollLagSeconds,
}

func init() {
	Registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	Registry.MustRegister(own...)
}

// Names returns the name of every metric the service defines (poblysh_*),
// whether or not it has a series yet.
func Names() []string {
	var out []string
	for _, c := range own {
		ch := make(chan *prometheus.Desc, 1)
		go func() { c.Describe(ch); close(ch) }()
		for d := range ch {
			out = append(out, descName(d))
		}
	}
	return out
}

// descName reads fqName out of a Desc's String(), the only way the client
// library exposes it.
func descName(d *prometheus.Desc) string {
	s := d.String()
	_, after, _ := strings.Cut(s, `fqName: "`)
	name, _, _ := strings.Cut(after, `"`)
	return name
}
