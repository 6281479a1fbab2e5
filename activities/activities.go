// Package activities holds the Temporal activities: methods on Activities,
// a struct carrying their dependencies, each with one input and one result
// struct declared next to it (FooInput, FooResult). Activities do all I/O
// (Postgres, provider APIs) and translate provider-neutral errors into
// Temporal retry semantics (errors.go); workflows only orchestrate them.
// Signals are stored through the ingest package, connection state through
// the lifecycle package's rules.
package activities

import (
	"context"
	"time"

	"github.com/sirupsen/logrus"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/lifecycle"
	"github.com/poblysh/poblysh/vault"
)

// Orchestrator starts and shapes workflows on behalf of activities (a poll
// triggers stream syncs, a sweep starts refreshes). The engine implements
// it; the interface keeps activities free of workflow imports.
type Orchestrator interface {
	// NudgeConnection asks every stream of a connection for a coalesced
	// incremental pass and returns how many streams it nudged.
	NudgeConnection(ctx context.Context, ref poblysh.ConnectionRef, trigger poblysh.Trigger) (int, error)
	// StartRefresh starts (or joins) a connection's RefreshToken workflow.
	StartRefresh(ctx context.Context, ref poblysh.ConnectionRef) error
	// StartWatchReconcile starts (or nudges) a connection's ReconcileWatches workflow.
	StartWatchReconcile(ctx context.Context, ref poblysh.ConnectionRef, trigger poblysh.Trigger) error
	// SyncSchedules creates, updates, pauses or resumes a connection's
	// schedules to match its state (health, pause, push, interval).
	SyncSchedules(ctx context.Context, tenantID, connID string) error
}

// Activities carries the dependencies of every activity.
type Activities struct {
	DB           *db.DB
	Registry     *connectors.Registry
	KeyRing      *vault.KeyRing
	Orchestrator Orchestrator
	// Connections disconnects connections (a tenant's deletion).
	Connections *lifecycle.Service
	Log         *logrus.Logger
	// TenantConcurrency caps concurrently running sync pages per tenant.
	TenantConcurrency int
	// PagesPerActivity bounds the pages one SyncPage activity stores
	// (0: DefaultPagesPerActivity; 1: one page per activity).
	PagesPerActivity int
	// RawRetention, SignalTTL and JobRetention drive Prune (0 TTL keeps
	// Signals forever, 0 job retention keeps jobs: the configuration
	// refuses it, POBLYSH_JOB_RETENTION is at least a day).
	RawRetention time.Duration
	SignalTTL    time.Duration
	JobRetention time.Duration
	// RenewalInterval is how often the renewal sweep runs
	// (POBLYSH_RENEWAL_INTERVAL): a channel is due for renewal early
	// enough for two sweeps to see it (db.RenewWithin). 0 assumes no
	// sweep: a third of the channel's life, at most a day.
	RenewalInterval time.Duration
	// Now is the clock (tests pin it).
	Now func() time.Time
}

func (a *Activities) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func (a *Activities) logger(ctx context.Context, ref poblysh.ConnectionRef) *logrus.Entry {
	f := logrus.Fields{"tenant_id": ref.TenantID, "connection_id": ref.ConnectionID, "provider": ref.Provider}
	if ref.Stream != "" {
		f["stream"] = ref.Stream
	}
	if activity.IsActivity(ctx) {
		info := activity.GetInfo(ctx)
		f["workflow_id"] = info.WorkflowExecution.ID
		f["activity"] = info.ActivityType.Name
		f["attempt"] = info.Attempt
	}
	log := a.Log
	if log == nil {
		log = logrus.StandardLogger()
	}
	return log.WithFields(f)
}

func (a *Activities) provider(name string) (*connectors.Provider, error) {
	p, ok := a.Registry.Get(name)
	if !ok {
		return nil, temporal.NewNonRetryableApplicationError("unknown provider "+name, ErrTypeInvalidConfig, nil)
	}
	return p, nil
}

// keepAlive heartbeats every few seconds until stopped, so a worker that
// dies mid-page is detected within the heartbeat timeout (not the whole
// start-to-close timeout) while a slow, paced provider call stays alive.
func keepAlive(ctx context.Context) (stop func()) {
	if !activity.IsActivity(ctx) {
		return func() {}
	}
	done := make(chan struct{})
	activity.RecordHeartbeat(ctx)
	go func() {
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				activity.RecordHeartbeat(ctx)
			}
		}
	}()
	return func() { close(done) }
}
