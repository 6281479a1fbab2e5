package connectors

import (
	"context"
	"fmt"
	"time"
)

// Pacer books turns of provider call budgets that every process of the
// service shares (db.Pacer, over Postgres, like the tenant sync lease):
// Reserve books the next call under key, at one call per every with bursts
// of burst, and returns how long to wait before making it. The registry's
// per-account limiter (Policy.Rate) paces one process; a Pacer paces them
// all, for providers whose limits are finer than one rate per account.
type Pacer interface {
	Reserve(ctx context.Context, key string, every time.Duration, burst int) (time.Duration, error)
}

// WaitTurn waits d, the delay a pacer gave the next call. A wait longer
// than ctx allows fails at once as a rate limit carrying d (reason says
// whose budget), so the engine retries the page when the turn is there;
// a ctx that ends meanwhile fails with its error.
func WaitTurn(ctx context.Context, d time.Duration, reason string) error {
	if d <= 0 {
		return nil
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
		return &RateLimited{RetryAfter: d, Reason: reason}
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
