package main

import (
	"context"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/metrics"
)

// forgetDeletedConnections drops the per-connection metric series this
// process holds of the connections among ids (metrics.ConnectionSeries)
// since deleted (metrics.ForgetConnections), and answers how many it
// dropped. A worker kept them until it restarted: series grew with
// connection churn, and dashboards read deleted connections' last values.
func forgetDeletedConnections(ctx context.Context, database *db.DB, ids []string) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	var live map[string]bool
	if err := database.WithSystem(ctx, func(tx *db.Tx) (err error) {
		live, err = tx.LiveConnectionIDs(ctx, ids)
		return err
	}); err != nil {
		return 0, err
	}
	return metrics.ForgetConnections(ids, live), nil
}

// runMetricsPrune runs forgetDeletedConnections every interval until ctx
// ends (the worker process runs it).
func runMetricsPrune(ctx context.Context, database *db.DB, log *logrus.Logger, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := forgetDeletedConnections(ctx, database, metrics.ConnectionSeries()); err != nil && ctx.Err() == nil {
				log.WithError(err).Warn("could not prune deleted connections' metric series")
			}
		}
	}
}
