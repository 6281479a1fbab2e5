package metrics

// Provider is what the service knows about a provider at start-up: its
// name and the Signal kinds it produces.
type Provider struct {
	Name  string
	Kinds []string
}

// Known label values (the strings the packages that count use).
var (
	jobKinds       = []string{"backfill", "incremental", "token_refresh", "watch_renewal"}
	jobStatuses    = []string{"succeeded", "failed", "cancelled"}
	webhookResults = []string{"accepted", "duplicate", "unroutable", "ignored", "challenge", "bad_signature", "invalid", "error"}
	refreshResults = []string{"ok", "transient", "revoked", "client_refused"}
	callResults    = []string{"200", "error"}
	// retried are the activities whose retries are counted.
	retried = []string{"SyncPage"}
)

// Init creates every series whose labels are known at start-up, at zero,
// so dashboards and alerts see each metric from the first scrape instead
// of a gap until the first event. Per-connection gauges
// (poblysh_connection_*) are the exception: a connection has no series
// until its first sync pass ends.
func Init(providers []Provider) {
	for _, a := range retried {
		ActivityRetries.WithLabelValues(a)
	}
	for _, p := range providers {
		for _, k := range jobKinds {
			JobDuration.WithLabelValues(p.Name, k)
			for _, s := range jobStatuses {
				JobsTotal.WithLabelValues(p.Name, k, s)
			}
		}
		for _, k := range p.Kinds {
			SignalsStored.WithLabelValues(p.Name, k)
		}
		for _, r := range webhookResults {
			WebhookDeliveries.WithLabelValues(p.Name, r)
		}
		for _, r := range refreshResults {
			TokenRefreshes.WithLabelValues(p.Name, r)
		}
		for _, r := range callResults {
			ProviderCalls.WithLabelValues(p.Name, r)
		}
		PagesTotal.WithLabelValues(p.Name)
		SignalDuplicates.WithLabelValues(p.Name)
		RateLimitHits.WithLabelValues(p.Name)
		IngestLag.WithLabelValues(p.Name)
		PollLagSeconds.WithLabelValues(p.Name)
	}
}

// InitRoute creates the request-duration series of one API route with
// its documented success status, at zero.
func InitRoute(route, method, status string) {
	HTTPDuration.WithLabelValues(route, Method(method), status)
}
