package activities

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/sirupsen/logrus"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/db"
)

// Error types activities fail with (temporal.ApplicationError.Type()).
const (
	ErrTypeRateLimited        = "RateLimited"
	ErrTypeTransient          = "Transient"
	ErrTypeUnauthorized       = "Unauthorized"
	ErrTypeForbidden          = "Forbidden"
	ErrTypeNotFound           = "NotFound"
	ErrTypeInvalidConfig      = "InvalidConfig"
	ErrTypeCursorExpired      = "CursorExpired"
	ErrTypeConnectionInactive = "ConnectionInactive"
	ErrTypeTenantBusy         = "TenantBusy"
	// ErrTypeMissing: the job, connection or tenant an activity was given
	// is not in this database (deleted, or the work of another stack that
	// shares the task queue). No retry can make it appear.
	ErrTypeMissing = "Missing"
)

// NonRetryable lists the error types no retry can fix.
var NonRetryable = []string{ErrTypeUnauthorized, ErrTypeForbidden, ErrTypeNotFound, ErrTypeInvalidConfig, ErrTypeCursorExpired, ErrTypeConnectionInactive, ErrTypeMissing}

// permanent maps the provider's refusals that no retry fixes to the
// health event they record and the error type the activity fails with.
var permanent = map[error]struct {
	event poblysh.HealthEventKind
	typ   string
}{
	connectors.ErrUnauthorized:  {poblysh.EventCredentialsRejected, ErrTypeUnauthorized},
	connectors.ErrForbidden:     {poblysh.EventPermissionDenied, ErrTypeForbidden},
	connectors.ErrNotFound:      {poblysh.EventNotFound, ErrTypeNotFound},
	connectors.ErrInvalidConfig: {poblysh.EventInvalidConfig, ErrTypeInvalidConfig},
}

// degradeAfter is the attempt from which transient failures degrade the
// connection: one or two blips are not worth a health change.
const degradeAfter = 3

// translate maps an error to Temporal retry semantics. Rate limits wait the
// provider's Retry-After (benign: not counted as a failure; the provider's
// answer was counted in poblysh_provider_rate_limited_total by the
// connectors' transport that received it, which sees the calls made
// outside activities too); transient
// failures back off with jitter; permanent failures are non-retryable and
// move the connection's health (a refused refresh has moved it already).
func (a *Activities) translate(ctx context.Context, ref poblysh.ConnectionRef, err error) error {
	if err == nil {
		return nil
	}
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return err
	}
	var re *refreshError
	if errors.As(err, &re) {
		return temporal.NewNonRetryableApplicationError(re.msg, re.typ, nil)
	}
	if ctx.Err() != nil {
		return err
	}
	if poblysh.ErrorCode(err) == poblysh.ENOTFOUND {
		return missing(ctx, poblysh.ErrorMessage(err))
	}
	if db.IsUnavailable(err) || poblysh.ErrorCode(err) == poblysh.EUNAVAILABLE {
		msg := "database unavailable: " + err.Error()
		if errors.Is(err, db.ErrTokenLockBusy) {
			msg = err.Error() // the database answered: another refresh holds the lock
		}
		return temporal.NewApplicationErrorWithOptions(msg, ErrTypeTransient,
			temporal.ApplicationErrorOptions{NextRetryDelay: backoff(attempt(ctx), 2*time.Second, time.Minute)})
	}
	msg := err.Error()
	switch connectors.Kind(err) {
	case connectors.ErrRateLimited:
		d := rateLimitDelay(err, attempt(ctx))
		a.logger(ctx, ref).WithField("retry_after", d.String()).Info("provider rate limited; waiting")
		return temporal.NewApplicationErrorWithOptions(msg, ErrTypeRateLimited, temporal.ApplicationErrorOptions{
			NextRetryDelay: d, Category: temporal.ApplicationErrorCategoryBenign,
		})
	case connectors.ErrUnauthorized, connectors.ErrForbidden, connectors.ErrNotFound, connectors.ErrInvalidConfig:
		p := permanent[connectors.Kind(err)]
		a.recordHealth(ctx, ref, poblysh.HealthEvent{Kind: p.event, Detail: msg})
		return temporal.NewNonRetryableApplicationError(msg, p.typ, nil)
	case connectors.ErrCursorExpired:
		return temporal.NewNonRetryableApplicationError(msg, ErrTypeCursorExpired, nil)
	default:
		n := attempt(ctx)
		if n >= degradeAfter {
			a.recordHealth(ctx, ref, poblysh.HealthEvent{Kind: poblysh.EventTransientFailures, Detail: msg, Attempt: int(n)})
		}
		return temporal.NewApplicationErrorWithOptions(msg, ErrTypeTransient, temporal.ApplicationErrorOptions{
			NextRetryDelay: backoff(n, time.Second, 5*time.Minute),
		})
	}
}

// rateLimitDelay is how long a rate-limited activity waits before its next
// attempt: the provider's date as it is; a delay that is only the
// provider's floor for a limit it did not date (RateLimited.Floor: GitHub's
// secondary rate limit, "wait for at least one minute … If your request
// continues to fail …, wait for an exponentially increasing amount of
// time") grows from it with the attempt, jittered, never under it, up to
// connectors.FloorBackoffCap; no delay at all backs off from 5 s. Then a
// hair over, so we never arrive early.
func rateLimitDelay(err error, attempt int32) time.Duration {
	d, _ := connectors.RetryAfter(err)
	switch {
	case d <= 0:
		d = backoff(attempt, 5*time.Second, 5*time.Minute)
	case connectors.IsFloor(err):
		d = max(d, backoff(attempt, d, connectors.FloorBackoffCap))
	}
	return d + 250*time.Millisecond
}

// recordHealth moves the connection's health by ev, as poblysh.Health.Next
// decides; a connection that needs re-authorization also gets its
// schedules paused.
func (a *Activities) recordHealth(ctx context.Context, ref poblysh.ConnectionRef, ev poblysh.HealthEvent) {
	a.recordHealthOf(ctx, ref, func(*db.Tx) (poblysh.HealthEvent, error) { return ev, nil })
}

// recordHealthOf is recordHealth of the event that event makes in the
// transaction that applies it (from what the connection records). An
// event of no Kind records nothing: event found nothing to record.
func (a *Activities) recordHealthOf(ctx context.Context, ref poblysh.ConnectionRef, event func(*db.Tx) (poblysh.HealthEvent, error)) {
	var h poblysh.Health
	var ev poblysh.HealthEvent
	var changed bool
	err := a.DB.WithTenant(ctx, ref.TenantID, func(tx *db.Tx) (err error) {
		if ev, err = event(tx); err != nil || ev.Kind == "" {
			return err
		}
		h, changed, err = tx.ApplyHealth(ctx, ref.ConnectionID, ev)
		return err
	})
	if err != nil {
		a.logger(ctx, ref).WithError(err).Warn("could not record connection health")
		return
	}
	if changed {
		a.logger(ctx, ref).WithFields(logrus.Fields{"health": h, "event": ev.Kind}).Warn("connection health changed")
	}
	if h == poblysh.HealthNeedsReauth && a.Orchestrator != nil {
		if err := a.Orchestrator.SyncSchedules(ctx, ref.TenantID, ref.ConnectionID); err != nil {
			a.logger(ctx, ref).WithError(err).Warn("could not pause schedules")
		}
	}
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

// missing fails an activity whose job, connection or tenant is not in this
// database, non-retryably, naming what is missing and the likely cause.
func missing(ctx context.Context, what string) error {
	queue := ""
	if activity.IsActivity(ctx) {
		queue = " " + activity.GetInfo(ctx).TaskQueue
	}
	return temporal.NewNonRetryableApplicationError(what+" in this worker's database: it was deleted, or this task "+
		"belongs to another stack polling the same task queue"+queue+" (give each stack its own POBLYSH_TASK_QUEUE)",
		ErrTypeMissing, nil)
}
