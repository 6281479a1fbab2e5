package connectors

import (
	"context"
	"fmt"
	"time"
)

// Pacer books turns of provider call budgets that every process of the
// service shares (db.Pacer, over Postgres, like the tenant sync lease):
// Reserve books the next call under key, at one call per every with bursts
// of burst, if it is due within within from now (< 0: however far out),
// and returns how long to wait before making it and whether it was booked.
// A call due later is not booked: the wait returned is how long until it
// would be due, and the budget is left as it was. A booked turn is not
// given back, so a caller books only a turn it will wait for (TakeTurn).
// The registry's per-account limiter (Policy.Rate) paces one process; a
// Pacer paces them all, for providers whose limits are finer than one
// rate per account.
type Pacer interface {
	Reserve(ctx context.Context, key string, every time.Duration, burst int, within time.Duration) (time.Duration, bool, error)
}

// TakeTurn books key's next call in p and waits for it. A turn further
// out than the caller can wait (turnWithin) is not booked and fails at
// once as a rate limit carrying its wait (reason says whose budget), so
// the engine retries the call when the turn is there; a ctx that ends
// while the call waits fails with its error. A failing pacer is a
// transient failure.
func TakeTurn(ctx context.Context, p Pacer, key string, every time.Duration, burst int, reason string) error {
	d, booked, err := p.Reserve(ctx, key, every, burst, turnWithin(ctx))
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrTransient, reason, err)
	}
	if !booked {
		return &RateLimited{RetryAfter: d, Reason: reason}
	}
	return sleepTurn(ctx, d, reason)
}

// WaitTurn waits d, the delay an in-process limiter gave the next call. A
// wait longer than the caller can wait (turnWithin) fails at once as a
// rate limit carrying d (reason says whose budget), so the engine retries
// the call when the turn is there; a ctx that ends meanwhile fails with
// its error. The caller gives the turn back when WaitTurn fails
// (rate.Reservation.Cancel).
func WaitTurn(ctx context.Context, d time.Duration, reason string) error {
	if within := turnWithin(ctx); within >= 0 && d > within {
		return &RateLimited{RetryAfter: d, Reason: reason}
	}
	return sleepTurn(ctx, d, reason)
}

// turnWithin is how long a caller may wait for its turn: half of what is
// left of ctx's time, so the call and the work after it (a sync page's
// other calls, its store) keep the other half; a turn booked right at the
// deadline would be spent on a call that cannot finish. -1: no deadline,
// no bound.
func turnWithin(ctx context.Context) time.Duration {
	dl, ok := ctx.Deadline()
	if !ok {
		return -1
	}
	return max(time.Until(dl)/2, 0)
}

// sleepTurn waits d unless ctx ends first.
func sleepTurn(ctx context.Context, d time.Duration, reason string) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for the turn of %s: %w", reason, ctx.Err())
	}
}

// PacerUser is implemented by connectors that pace some of their calls
// with a shared Pacer (Slack: per workspace and method tier). Without one
// they pace in their own process.
type PacerUser interface {
	UsePacer(Pacer)
}

// UsePacer hands p to every connector that paces with one.
func (r *Registry) UsePacer(p Pacer) {
	for _, pr := range r.providers {
		if u, ok := pr.Connector.(PacerUser); ok {
			u.UsePacer(p)
		}
	}
}
