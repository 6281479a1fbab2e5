package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	prom "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/sirupsen/logrus"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/poblysh/poblysh/activities"
	"github.com/poblysh/poblysh/api"
	"github.com/poblysh/poblysh/config"
	"github.com/poblysh/poblysh/connectors"
	_ "github.com/poblysh/poblysh/connectors/all" // every provider
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/engine"
	"github.com/poblysh/poblysh/logging"
	"github.com/poblysh/poblysh/metrics"
)

func runServe(withAPI, withWorker bool) func(context.Context, *flag.FlagSet, []string, func(string) string, io.Writer, io.Writer) error {
	return func(ctx context.Context, fs *flag.FlagSet, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
		if err := fs.Parse(args); err != nil {
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
		database, err := db.Open(ctx, cfg.DatabaseURL, db.Options{Role: cfg.DBRole, MaxConns: int32(cfg.DBMaxConns)})
		if err != nil {
			return err
		}
		defer database.Close()
		tc, closeTemporal, err := engine.Dial(ctx, engine.DialOptions{
			Address: cfg.TemporalAddress, Namespace: cfg.TemporalNamespace, APIKey: cfg.TemporalAPIKey, TLS: cfg.TemporalTLS,
			Log: log, Registerer: sdkMetricsRegisterer(),
		})
		if err != nil {
			return err
		}
		defer closeTemporal()
		eng := &engine.Engine{Client: tc, DB: database, Registry: registry, TaskQueue: cfg.TaskQueue,
			Namespace: cfg.TemporalNamespace, UIURL: cfg.TemporalUIURL, Log: log}
		eng.Init(ctx)

		var w worker.Worker
		if withWorker {
			acts := &activities.Activities{DB: database, Registry: registry, KeyRing: cfg.KeyRing, Orchestrator: eng, Log: log,
				TenantConcurrency: cfg.TenantSyncConcurrency, RawRetention: cfg.RawRetention, SignalTTL: cfg.SignalTTL}
			w = engine.NewWorker(tc, cfg.TaskQueue, acts, worker.Options{})
			if err := w.Start(); err != nil {
				return fmt.Errorf("temporal worker: %w", err)
			}
			defer w.Stop()
			if err := eng.EnsureGlobalSchedules(ctx, engine.GlobalSchedules{
				Refresh: cfg.RefreshInterval, Renewal: cfg.RenewalInterval, Retention: 24 * time.Hour,
			}); err != nil {
				return err
			}
			log.WithField("task_queue", cfg.TaskQueue).Info("worker started")
		}
		var errc = make(chan error, 2)
		var servers []*http.Server
		if withAPI {
			handler, err := api.NewServer(api.Deps{
				Log: log, DB: database, Engine: eng, Registry: registry, KeyRing: cfg.KeyRing, AdminKey: cfg.AdminKey,
				MaxBodyBytes: cfg.MaxBodyBytes, WebhookMaxBytes: cfg.WebhookMaxBytes, RedirectAllowlist: cfg.RedirectAllowlist,
				StateTTL: cfg.StateTTL,
				TemporalHealth: func(ctx context.Context) error {
					_, err := tc.CheckHealth(ctx, &client.CheckHealthRequest{})
					return err
				},
			})
			if err != nil {
				return err
			}
			srv, err := listen(cfg.HTTPAddr, handler, log, errc)
			if err != nil {
				return err
			}
			servers = append(servers, srv)
			log.WithFields(logrus.Fields{"addr": srv.Addr, "public_url": cfg.PublicURL}).Info("API listening")
			if cfg.MetricsAddr != "" {
				m, err := listen(cfg.MetricsAddr, promhttp.HandlerFor(metrics.Registry, promhttp.HandlerOpts{}), log, errc)
				if err != nil {
					return err
				}
				servers = append(servers, m)
			}
		}
		select {
		case <-ctx.Done():
		case err := <-errc:
			return err
		}
		log.Info("shutting down")
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
		defer cancel()
		for _, s := range servers {
			_ = s.Shutdown(sctx)
		}
		return nil
	}
}

var sdkMetrics sync.Once

// sdkMetricsRegisterer hands the Prometheus registry to the first Temporal
// client of the process only: SDK metric names can be registered once
// (tests run several services in one process).
func sdkMetricsRegisterer() prom.Registerer {
	var r prom.Registerer
	sdkMetrics.Do(func() { r = metrics.Registry })
	return r
}

func listen(addr string, h http.Handler, log *logrus.Logger, errc chan<- error) (*http.Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	srv := &http.Server{
		Addr: ln.Addr().String(), Handler: h,
		ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 60 * time.Second, WriteTimeout: 60 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: nil,
	}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.WithError(err).Error("http server stopped")
			errc <- err
		}
	}()
	return srv, nil
}
