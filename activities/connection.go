package activities

import (
	"context"
	"errors"

	"go.temporal.io/sdk/temporal"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/db"
)

// TriggerConnectionSyncInput names the connection a polling schedule
// belongs to.
type TriggerConnectionSyncInput struct {
	poblysh.ConnectionRef
}

// TriggerConnectionSyncResult reports a poll.
type TriggerConnectionSyncResult struct {
	Streams int
	// Skipped: the connection is deleted or inactive; nothing was asked.
	Skipped bool
}

// TriggerConnectionSync asks every stream of an active connection for a
// coalesced incremental pass (the polling schedule's action). A deleted or
// inactive connection is skipped, not failed: its schedule is being
// removed or paused.
func (a *Activities) TriggerConnectionSync(ctx context.Context, in TriggerConnectionSyncInput) (TriggerConnectionSyncResult, error) {
	var conn *db.Connection
	err := a.DB.WithTenant(ctx, in.TenantID, func(tx *db.Tx) (err error) {
		conn, err = tx.FindConnection(ctx, in.ConnectionID)
		return err
	})
	if err := a.live(ctx, in.ConnectionRef, conn, err); err != nil {
		if isType(err, ErrTypeConnectionInactive) {
			return TriggerConnectionSyncResult{Skipped: true}, nil
		}
		return TriggerConnectionSyncResult{}, err
	}
	n, err := a.Orchestrator.NudgeConnection(ctx, in.ConnectionRef, poblysh.TriggerSchedule)
	if err != nil {
		return TriggerConnectionSyncResult{}, a.translate(ctx, in.ConnectionRef, err)
	}
	return TriggerConnectionSyncResult{Streams: n}, nil
}

// live maps the lookup of the connection an activity works on (c, err) to
// what the activity does next: nil to go on. A deleted connection (not
// found) and an inactive one (paused, disabled, needs re-authorization)
// fail with ErrTypeConnectionInactive, which no retry fixes and which ends
// the job as cancelled; callers that merely skip check for that type.
// Other lookup failures are translated for retry.
func (a *Activities) live(ctx context.Context, ref poblysh.ConnectionRef, c *db.Connection, err error) error {
	switch {
	case poblysh.ErrorCode(err) == poblysh.ENOTFOUND:
		return deleted()
	case err != nil:
		return a.translate(ctx, ref, err)
	case !c.Active():
		reason := "connection is paused"
		if !c.Paused {
			reason = "connection is " + string(c.Health)
		}
		return temporal.NewNonRetryableApplicationError(reason, ErrTypeConnectionInactive, nil)
	}
	return nil
}

// refreshable is live for a token refresh, which a pause does not stop:
// pausing stops syncing, not the authorization, and a refresh token left
// unused lapses at the provider (the sweep's keep-alive, db.TokensDue). A
// refresh reads no data, starts no sync and moves no cursor. A paused
// connection is refreshed whether its health is the pause's (disabled) or
// healthy or degraded; a deleted one, or one that needs re-authorization,
// is not.
func (a *Activities) refreshable(ctx context.Context, ref poblysh.ConnectionRef, c *db.Connection, err error) error {
	if err == nil && c.Paused && (c.Health.Schedulable() || c.Health == poblysh.HealthDisabled) {
		return nil
	}
	return a.live(ctx, ref, c, err)
}

// deleted fails an activity whose connection is gone.
func deleted() error {
	return temporal.NewNonRetryableApplicationError("connection was deleted", ErrTypeConnectionInactive, nil)
}

// streamGone fails a page of a stream the connection's config no longer
// names (a PATCH or a reconnect with a new config removed its resource):
// its pass ends as a deleted connection's does, cancelled, not retried,
// with no mark on the connection's health.
func streamGone(stream string) error {
	return temporal.NewNonRetryableApplicationError("stream "+stream+" is no longer in the connection's config", ErrTypeConnectionInactive, nil)
}

// isType reports whether err is an activity failure of type typ.
func isType(err error, typ string) bool {
	var appErr *temporal.ApplicationError
	return errors.As(err, &appErr) && appErr.Type() == typ
}
