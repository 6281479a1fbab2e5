package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/sirupsen/logrus"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/metrics"
	"github.com/poblysh/poblysh/vault"
)

// Orchestrator starts and shapes workflows on behalf of activities (a poll
// triggers stream syncs, a sweep starts refreshes). The engine implements
// it; the interface keeps activities free of workflow imports.
type Orchestrator interface {
	// NudgeConnection asks every stream of a connection for a coalesced
	// incremental pass and returns how many streams it nudged.
	NudgeConnection(ctx context.Context, tenantID, connID string, trigger poblysh.Trigger) (int, error)
	// StartRefresh starts (or joins) a connection's RefreshToken workflow.
	StartRefresh(ctx context.Context, due db.DueConnection) error
	// StartWatchReconcile starts (or nudges) a connection's ReconcileWatches workflow.
	StartWatchReconcile(ctx context.Context, due db.DueConnection, trigger poblysh.Trigger) error
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
	Log          *logrus.Logger
	// TenantConcurrency caps concurrently running sync pages per tenant.
	TenantConcurrency int
	// RawRetention and SignalTTL drive Prune (0 TTL keeps Signals forever).
	RawRetention time.Duration
	SignalTTL    time.Duration
	// Now is the clock (tests pin it).
	Now func() time.Time
}

func (a *Activities) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func (a *Activities) logger(ctx context.Context, t Target) *logrus.Entry {
	f := logrus.Fields{"tenant_id": t.TenantID, "connection_id": t.ConnectionID, "provider": t.Provider}
	if t.Stream != "" {
		f["stream"] = t.Stream
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

// ConnectorConnection is the connector's view of a stored connection.
func ConnectorConnection(c *db.Connection) connectors.Connection {
	var acct connectors.Account
	_ = json.Unmarshal(c.Account, &acct)
	if acct.ID == "" {
		acct.ID = c.ExternalAccountID
	}
	if acct.Name == "" {
		acct.Name = c.DisplayName
	}
	return connectors.Connection{ID: c.ID, TenantID: c.TenantID, Account: acct, Config: c.Config}
}

// backoff is exponential with jitter: base·2^(attempt-1), capped, then a
// random point in [50%, 100%] of it so retries of many streams spread out.
func backoff(attempt int32, base, ceiling time.Duration) time.Duration {
	d := base
	for i := int32(1); i < attempt && d < ceiling; i++ {
		d *= 2
	}
	d = min(d, ceiling)
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

func attempt(ctx context.Context) int32 {
	if !activity.IsActivity(ctx) {
		return 1
	}
	return activity.GetInfo(ctx).Attempt
}

// translate maps an error to Temporal retry semantics. Rate limits wait the
// provider's Retry-After (benign: not counted as a failure); transient
// failures back off with jitter; permanent failures are non-retryable and
// move the connection's health.
func (a *Activities) translate(ctx context.Context, t Target, err error) error {
	if err == nil {
		return nil
	}
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return err
	}
	if ctx.Err() != nil {
		return err
	}
	if db.IsUnavailable(err) || poblysh.ErrorCode(err) == poblysh.EUNAVAILABLE {
		return temporal.NewApplicationErrorWithOptions("database unavailable: "+err.Error(), ErrTypeTransient,
			temporal.ApplicationErrorOptions{NextRetryDelay: backoff(attempt(ctx), 2*time.Second, time.Minute)})
	}
	msg := err.Error()
	switch connectors.Kind(err) {
	case connectors.ErrRateLimited:
		metrics.RateLimitHits.WithLabelValues(t.Provider).Inc()
		d, _ := connectors.RetryAfter(err)
		if d <= 0 {
			d = backoff(attempt(ctx), 5*time.Second, 5*time.Minute)
		}
		// A hair over the provider's ask, so we never arrive early.
		d += 250 * time.Millisecond
		a.logger(ctx, t).WithField("retry_after", d.String()).Info("provider rate limited; waiting")
		return temporal.NewApplicationErrorWithOptions(msg, ErrTypeRateLimited, temporal.ApplicationErrorOptions{
			NextRetryDelay: d, Category: temporal.ApplicationErrorCategoryBenign,
		})
	case connectors.ErrUnauthorized:
		a.setHealth(ctx, t, poblysh.HealthNeedsReauth, "provider rejected the credentials: "+msg)
		return temporal.NewNonRetryableApplicationError(msg, ErrTypeUnauthorized, nil)
	case connectors.ErrForbidden:
		a.setHealth(ctx, t, poblysh.HealthDegraded, "permission denied: "+msg)
		return temporal.NewNonRetryableApplicationError(msg, ErrTypeForbidden, nil)
	case connectors.ErrNotFound:
		a.setHealth(ctx, t, poblysh.HealthDegraded, "not found at the provider: "+msg)
		return temporal.NewNonRetryableApplicationError(msg, ErrTypeNotFound, nil)
	case connectors.ErrInvalidConfig:
		a.setHealth(ctx, t, poblysh.HealthDegraded, "invalid configuration: "+msg)
		return temporal.NewNonRetryableApplicationError(msg, ErrTypeInvalidConfig, nil)
	case connectors.ErrCursorExpired:
		return temporal.NewNonRetryableApplicationError(msg, ErrTypeCursorExpired, nil)
	default:
		n := attempt(ctx)
		if n >= 3 {
			a.setHealth(ctx, t, poblysh.HealthDegraded, fmt.Sprintf("transient failures (attempt %d): %s", n, msg))
		}
		return temporal.NewApplicationErrorWithOptions(msg, ErrTypeTransient, temporal.ApplicationErrorOptions{
			NextRetryDelay: backoff(n, time.Second, 5*time.Minute),
		})
	}
}

// setHealth records a health change; needs_reauth also pauses schedules.
func (a *Activities) setHealth(ctx context.Context, t Target, h poblysh.Health, reason string) {
	if len(reason) > 500 {
		reason = reason[:500]
	}
	err := a.DB.WithTenant(ctx, t.TenantID, func(tx *db.Tx) error {
		c, err := tx.FindConnection(ctx, t.ConnectionID)
		if err != nil || c.Health == h && c.HealthReason == reason {
			return err
		}
		// An operator's disabled state is theirs to lift, and transient
		// trouble never overrides a worse state.
		if c.Health == poblysh.HealthDisabled || h == poblysh.HealthDegraded && c.Health == poblysh.HealthNeedsReauth {
			return nil
		}
		return tx.SetHealth(ctx, t.ConnectionID, h, reason)
	})
	if err != nil {
		a.logger(ctx, t).WithError(err).Warn("could not record connection health")
		return
	}
	a.logger(ctx, t).WithFields(logrus.Fields{"health": h, "reason": reason}).Warn("connection health changed")
	if h == poblysh.HealthNeedsReauth && a.Orchestrator != nil {
		if err := a.Orchestrator.SyncSchedules(ctx, t.TenantID, t.ConnectionID); err != nil {
			a.logger(ctx, t).WithError(err).Warn("could not pause schedules")
		}
	}
}

func inactive(c *db.Connection) error {
	reason := "connection is paused"
	if !c.Paused {
		reason = "connection is " + string(c.Health)
	}
	return temporal.NewNonRetryableApplicationError(reason, ErrTypeConnectionInactive, nil)
}
