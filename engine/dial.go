package engine

import (
	"context"
	"crypto/tls"
	"fmt"
	"time"

	prom "github.com/prometheus/client_golang/prometheus"
	"github.com/sirupsen/logrus"
	"github.com/uber-go/tally/v4"
	tallyprom "github.com/uber-go/tally/v4/prometheus"
	"go.temporal.io/sdk/client"
	sdktally "go.temporal.io/sdk/contrib/tally"

	"github.com/poblysh/poblysh/logging"
)

// DialOptions configure the Temporal client.
type DialOptions struct {
	Address   string
	Namespace string
	APIKey    string
	TLS       bool
	Log       *logrus.Logger
	// Registerer receives the SDK's metrics (nil: none).
	Registerer prom.Registerer
	// Lazy connects on the first call instead of at Dial, which then needs
	// no server. The API runs so: it starts and takes webhooks while
	// Temporal is down, and its calls that need Temporal fail (503
	// unavailable) until it is back. A worker dials eagerly: it checks its
	// task queue and creates schedules before it polls.
	Lazy bool
}

// Dial connects to Temporal with the SDK logger bridged to logrus and SDK
// metrics exported on the service's Prometheus registry.
func Dial(ctx context.Context, o DialOptions) (client.Client, func(), error) {
	opts := client.Options{
		HostPort:  o.Address,
		Namespace: o.Namespace,
		Logger:    logging.NewTemporal(o.Log),
	}
	if o.TLS || o.APIKey != "" {
		opts.ConnectionOptions.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if o.APIKey != "" {
		opts.Credentials = client.NewAPIKeyStaticCredentials(o.APIKey)
	}
	closeMetrics := func() {}
	if o.Registerer != nil {
		reporter := tallyprom.NewReporter(tallyprom.Options{Registerer: o.Registerer})
		scope, closer := tally.NewRootScope(tally.ScopeOptions{
			CachedReporter:  reporter,
			Separator:       tallyprom.DefaultSeparator,
			SanitizeOptions: &sdktally.PrometheusSanitizeOptions,
		}, time.Second)
		opts.MetricsHandler = sdktally.NewMetricsHandler(sdktally.NewPrometheusNamingScope(scope))
		closeMetrics = func() { _ = closer.Close() }
	}
	var c client.Client
	var err error
	if o.Lazy {
		c, err = client.NewLazyClient(opts)
	} else {
		ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		c, err = client.DialContext(ctx, opts)
	}
	if err != nil {
		closeMetrics()
		return nil, nil, fmt.Errorf("temporal: cannot reach %s (namespace %s): %w", o.Address, o.Namespace, err)
	}
	return c, func() { c.Close(); closeMetrics() }, nil
}
