package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	prom "github.com/prometheus/client_golang/prometheus"
	"github.com/sirupsen/logrus"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/poblysh/poblysh/activities"
	"github.com/poblysh/poblysh/api"
	"github.com/poblysh/poblysh/config"
	"github.com/poblysh/poblysh/connectors"
	_ "github.com/poblysh/poblysh/connectors/all" // every provider
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/engine"
	"github.com/poblysh/poblysh/lifecycle"
	"github.com/poblysh/poblysh/logging"
	"github.com/poblysh/poblysh/metrics"
	"github.com/poblysh/poblysh/webhook"
)

func runServe(withAPI, withWorker bool) func(context.Context, *flag.FlagSet, []string, func(string) string, io.Writer, io.Writer) error {
	serve := serveUntilDone(withAPI, withWorker)
	return func(ctx context.Context, fs *flag.FlagSet, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
		err := serve(ctx, fs, args, getenv, stdout, stderr)
		// A stop asked for while the process was still starting (a call to
		// Postgres or Temporal cut short by the signal) is a stop, not a
		// failure: the operator gets exit status 0, as after start-up.
		if err != nil && ctx.Err() != nil && cancelled(err) {
			fmt.Fprintln(stderr, "poblysh: stopped during start-up")
			return nil
		}
		return err
	}
}

// cancelled reports whether err comes from a cancelled context, directly
// or as the gRPC or Temporal status a cancelled call returns.
func cancelled(err error) bool {
	var c *serviceerror.Canceled
	return errors.Is(err, context.Canceled) || errors.As(err, &c) || status.Code(err) == codes.Canceled
}

func serveUntilDone(withAPI, withWorker bool) func(context.Context, *flag.FlagSet, []string, func(string) string, io.Writer, io.Writer) error {
	return func(ctx context.Context, fs *flag.FlagSet, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
		if err := parseFlags(fs, args); err != nil {
			return err
		}
		cfg, err := config.Load(getenv, config.Needs{Admin: withAPI, Crypto: true})
		if err != nil {
			return err
		}
		log, err := logging.New(stdout, cfg.LogLevel)
		if err != nil {
			return err
		}
		registry, err := connectors.Build(connectors.Registered(), getenv, cfg.PublicURL, cfg.PublicURLSet)
		if err != nil {
			return fmt.Errorf("config: %w", err)
		}
		for _, n := range registry.Notices() {
			log.Info("config: " + n)
		}
		// A channel life the renewal sweep cannot keep (Google's CHANNEL_TTL
		// under three sweep intervals) would lapse between its sweeps.
		if err := registry.CheckChannelLives(cfg.RenewalInterval, "POBLYSH_RENEWAL_INTERVAL"); err != nil {
			return fmt.Errorf("config: %w", err)
		}
		initMetrics(registry)
		database, err := openDB(ctx, cfg)
		if err != nil {
			return err
		}
		defer database.Close()
		// A schema missing a migration of this binary would answer ready
		// and then fail wherever the code needs what the migration makes.
		pending, err := database.PendingMigrations(ctx)
		if err != nil {
			return err
		}
		if len(pending) > 0 {
			return fmt.Errorf("database: %d migration(s) not applied: %s; run `poblysh migrate` first", len(pending), strings.Join(pending, ", "))
		}
		// A database restored by a logical copy into a new cluster would
		// start and hide every new Signal from the feed's consumers.
		if err := database.CheckTxCounter(ctx); err != nil {
			return err
		}
		// Call budgets finer than one rate per account (Slack's method
		// tiers) are shared by every process through Postgres.
		registry.UsePacer(db.Pacer{DB: database})
		tc, closeTemporal, err := engine.Dial(ctx, engine.DialOptions{
			Address: cfg.TemporalAddress, Namespace: cfg.TemporalNamespace, APIKey: cfg.TemporalAPIKey, TLS: cfg.TemporalTLS,
			Log: log, Registerer: sdkMetricsRegisterer(), Lazy: !withWorker,
		})
		if err != nil {
			return err
		}
		defer closeTemporal()
		eng := &engine.Engine{Client: tc, DB: database, Registry: registry, TaskQueue: cfg.TaskQueue,
			Namespace: cfg.TemporalNamespace, UIURL: cfg.TemporalUIURL, Log: log}
		if withWorker {
			eng.Init(ctx)
		} else {
			// The API starts whether Temporal answers or not.
			go eng.InitWhenReachable(ctx, 30*time.Second)
		}
		acts := newActivities(cfg, database, registry, eng, log)
		connections := &lifecycle.Service{DB: database, Registry: registry, KeyRing: cfg.KeyRing, Workflows: eng,
			Access: activities.AccessService{A: acts}, RedirectAllowlist: cfg.RedirectAllowlist, StateTTL: cfg.StateTTL, Log: log}
		acts.Connections = connections

		var errc = make(chan error, 3) // the metrics server, the API server, the worker
		// Metrics and profiles: on their own (internal) address only, for
		// the API and the worker alike. Bound first: a taken address fails
		// the start before the worker takes a task or the API answers
		// anyone, and a ready API has its metrics too.
		var metricsSrv *http.Server
		if cfg.MetricsAddr != "" {
			m, err := listen(cfg.MetricsAddr, metricsServer(), log, errc)
			if err != nil {
				return fmt.Errorf("POBLYSH_METRICS_ADDR: %w (give each process on a host its own address, or off)", err)
			}
			defer func() { _ = m.Close() }() // after the graceful shutdown below, or on a failed start
			metricsSrv = m
			log.WithField("addr", m.Addr).Info("metrics and profiles listening")
		}

		var w worker.Worker
		if withWorker {
			// On SIGTERM the worker stops polling for tasks and gives the
			// activities it runs the shutdown timeout to finish (they keep
			// heartbeating meanwhile); only then are they cancelled.
			//
			// One task queue, one database: refuse to poll a queue that a
			// worker on another database polls (its tasks would run here,
			// against the wrong database, and ours there).
			dbID, err := database.Identity(ctx)
			if err != nil {
				return err
			}
			if err := engine.CheckTaskQueue(ctx, tc, cfg.TaskQueue, dbID, cfg.JoinTaskQueue); err != nil {
				return err
			}
			w = engine.NewWorker(tc, cfg.TaskQueue, acts, worker.Options{
				Identity: engine.WorkerIdentity(dbID), WorkerStopTimeout: cfg.ShutdownTimeout,
				// The SDK stops the worker for good when its polls keep
				// failing with an error retrying cannot mend (the namespace
				// deleted, the client refused): the process then stops too,
				// exiting non-zero so its supervisor restarts it, instead of
				// running on and answering while nothing polls. The send
				// never blocks: one failure is enough to stop.
				OnFatalError: func(err error) {
					log.WithError(err).Error("temporal worker stopped by a fatal error")
					select {
					case errc <- fmt.Errorf("temporal worker stopped: %w", err):
					default:
					}
				},
			})
			if err := w.Start(); err != nil {
				return fmt.Errorf("temporal worker: %w", err)
			}
			stopWorker := sync.OnceFunc(w.Stop)
			defer stopWorker()
			w = stopOnce{Worker: w, stop: stopWorker}
			if err := eng.EnsureGlobalSchedules(ctx, engine.GlobalSchedules{
				Refresh: cfg.RefreshInterval, Renewal: cfg.RenewalInterval, Retention: 24 * time.Hour,
				Activation: activationSweepInterval,
			}); err != nil {
				return err
			}
			go eng.RunJobSweep(ctx, time.Minute, 2*time.Minute)
			go runMetricsPrune(ctx, database, log, 10*time.Minute)
			log.WithFields(logrus.Fields{"task_queue": cfg.TaskQueue, "database": dbID}).Info("worker started")
		}
		// servers are the API's (drained first on shutdown), then the
		// metrics address.
		var servers []*http.Server
		// draining is set on SIGTERM while the API serves on for
		// POBLYSH_SHUTDOWN_DELAY.
		var draining atomic.Bool
		closeFeed := func() {}
		if withAPI {
			// One LISTEN connection for the whole process wakes every long
			// poll on the feed; closed first at shutdown, so waiting
			// readers answer instead of holding the server.
			feed := db.NewFeedNotifier(database, log)
			defer feed.Close()
			closeFeed = feed.Close
			intake := &webhook.Intake{DB: database, KeyRing: cfg.KeyRing, Nudger: eng, Watches: eng, Log: log}
			apiSrv, err := api.NewHTTPServer(api.Deps{
				Feed: feed, Keys: db.NewAPIKeyCache(database, feed),
				Log: log, DB: database, Registry: registry, AdminKey: cfg.AdminKey,
				Connections: connections,
				Jobs:        eng,
				Tenants:     eng, TenantSyncConcurrency: cfg.TenantSyncConcurrency,
				Webhooks:     intake,
				MaxBodyBytes: cfg.MaxBodyBytes, WebhookMaxBytes: cfg.WebhookMaxBytes,
				TemporalHealth: func(ctx context.Context) error {
					_, err := tc.CheckHealth(ctx, &client.CheckHealthRequest{})
					return err
				},
				Draining: draining.Load,
			})
			if err != nil {
				return err
			}
			srv, err := listen(cfg.HTTPAddr, apiSrv, log, errc)
			if err != nil {
				return err
			}
			servers = append(servers, srv)
			// Sync nudges recorded while Temporal was unreachable.
			go intake.RunPending(ctx, pendingNudgeInterval)
			log.WithFields(logrus.Fields{"addr": srv.Addr, "public_url": cfg.PublicURL}).Info("API listening")
		}
		if metricsSrv != nil {
			servers = append(servers, metricsSrv)
		}
		// A failure (a server that stopped serving, a worker Temporal
		// stopped) shuts the rest down as a stop would, then fails the run.
		var failed error
		select {
		case <-ctx.Done():
		case failed = <-errc:
		}
		// The worker stops taking tasks and lets its running activities
		// finish within POBLYSH_SHUTDOWN_TIMEOUT.
		var wg sync.WaitGroup
		if w != nil {
			wg.Add(1)
			go func() { defer wg.Done(); w.Stop() }()
		}
		// On a stop (not a failure) the API first serves on for
		// POBLYSH_SHUTDOWN_DELAY with /readyz answering 503: a load balancer
		// keeps sending new connections until it has seen the instance go
		// (endpoint changes take seconds to propagate), and a connection
		// refused then is a webhook delivery lost (GitHub never redelivers).
		if withAPI && failed == nil && cfg.ShutdownDelay > 0 {
			draining.Store(true)
			log.WithField("delay", cfg.ShutdownDelay.String()).Info("draining: not ready, still serving")
			time.Sleep(cfg.ShutdownDelay)
		}
		log.WithField("timeout", cfg.ShutdownTimeout.String()).Info("shutting down")
		closeFeed()
		// The API stops accepting connections and drains the requests in
		// flight within POBLYSH_SHUTDOWN_TIMEOUT.
		shutdown(ctx, servers, cfg.ShutdownTimeout)
		wg.Wait()
		log.Info("stopped")
		return failed
	}
}

// newActivities builds the worker's activities from the configuration
// (TestNewActivitiesGetsTheConfig). The renewal interval must reach them:
// without it (0) they judge a channel due a third of its life before it
// expires (at most a day), not at least two sweeps before as the
// renewal schedule, run every POBLYSH_RENEWAL_INTERVAL, relies on
// (db.RenewWithin), and nothing says so.
func newActivities(cfg *config.Config, database *db.DB, registry *connectors.Registry, orch activities.Orchestrator, log *logrus.Logger) *activities.Activities {
	return &activities.Activities{DB: database, Registry: registry, KeyRing: cfg.KeyRing, Orchestrator: orch, Log: log,
		TenantConcurrency: cfg.TenantSyncConcurrency, RawRetention: cfg.RawRetention, SignalTTL: cfg.SignalTTL,
		JobRetention: cfg.JobRetention, RenewalInterval: cfg.RenewalInterval}
}

// stopOnce lets the shutdown path and the deferred cleanup both stop the
// worker.
type stopOnce struct {
	worker.Worker
	stop func()
}

func (s stopOnce) Stop() { s.stop() }

// shutdown stops the HTTP servers in order, letting requests in flight
// finish within timeout; connections still open then are closed.
func shutdown(ctx context.Context, servers []*http.Server, timeout time.Duration) {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	for _, s := range servers {
		if err := s.Shutdown(sctx); err != nil {
			_ = s.Close()
		}
	}
}

// activationSweepInterval is how often the worker's activation sweep looks
// for connections stored while Temporal could not be reached to activate
// them (a connect's schedule and backfill, an update applied): rare, and
// each waits at most this long (plus a minute's grace) once Temporal is
// back.
const activationSweepInterval = 5 * time.Minute

// pendingNudgeInterval is how often the API retries sync nudges recorded
// while Temporal was unreachable.
const pendingNudgeInterval = 3 * time.Second

var sdkMetrics sync.Once

// sdkMetricsRegisterer hands the Prometheus registry to the first Temporal
// client of the process only: SDK metric names can be registered once
// (tests run several services in one process).
func sdkMetricsRegisterer() prom.Registerer {
	var r prom.Registerer
	sdkMetrics.Do(func() { r = metrics.Registry })
	return r
}

// metricsServer serves metrics and profiles (POBLYSH_METRICS_ADDR), with
// server-wide timeouts: a CPU profile of up to a minute fits them.
func metricsServer() *http.Server {
	return &http.Server{Handler: metrics.Handler(),
		ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 60 * time.Second, WriteTimeout: 75 * time.Second, IdleTimeout: 2 * time.Minute}
}

// listen binds addr and serves srv on it (the API's is api.NewHTTPServer,
// whose deadlines are per route).
func listen(addr string, srv *http.Server, log *logrus.Logger, errc chan<- error) (*http.Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	srv.Addr = ln.Addr().String()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.WithError(err).Error("http server stopped")
			errc <- err
		}
	}()
	return srv, nil
}
