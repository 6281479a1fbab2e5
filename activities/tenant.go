package activities

import (
	"context"
	"errors"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/db"
)

// TenantDeletionInput names the tenant being deleted, the operator's job,
// and for DisconnectForDeletion the connection. Page and Cursor ask
// BeginTenantDeletion and TenantConnectionPage for one page of the
// connections (Page of them after Cursor); a deletion started before
// pages (Page 0) is answered every connection at once, as it was.
type TenantDeletionInput struct {
	TenantID     string
	JobID        string
	RunID        string
	ConnectionID string
	Page         int    `json:",omitempty"`
	Cursor       string `json:",omitempty"`
}

// BeginTenantDeletionResult lists the connections to disconnect: every
// one, or the first page of them and the cursor of the next (Next; ""
// after the last page).
type BeginTenantDeletionResult struct {
	KeysRevoked   int
	ConnectionIDs []string
	Next          string `json:",omitempty"`
}

// BeginTenantDeletion marks the job running, revokes the tenant's keys and
// lists the connections to disconnect (their first page when in.Page is
// set).
func (a *Activities) BeginTenantDeletion(ctx context.Context, in TenantDeletionInput) (BeginTenantDeletionResult, error) {
	var res BeginTenantDeletionResult
	err := a.DB.WithSystem(ctx, func(tx *db.Tx) (err error) {
		if err := tx.StartOperatorJob(ctx, in.JobID, in.RunID); err != nil {
			return err
		}
		if res.KeysRevoked, err = tx.RevokeTenantKeys(ctx, in.TenantID); err != nil {
			return err
		}
		res.ConnectionIDs, res.Next, err = tx.TenantConnectionIDs(ctx, in.TenantID, db.Page{Limit: in.Page})
		return err
	})
	return res, a.translate(ctx, poblysh.ConnectionRef{TenantID: in.TenantID}, err)
}

// TenantConnectionsResult is a page of the connections to disconnect and
// the cursor of the next ("" after the last).
type TenantConnectionsResult struct {
	ConnectionIDs []string
	Next          string `json:",omitempty"`
}

// TenantConnectionPage lists the next page of a deleted tenant's
// connections: in.Page of them after in.Cursor (BeginTenantDeletion's or
// the page before's Next).
func (a *Activities) TenantConnectionPage(ctx context.Context, in TenantDeletionInput) (TenantConnectionsResult, error) {
	var res TenantConnectionsResult
	err := a.DB.WithSystem(ctx, func(tx *db.Tx) (err error) {
		res.ConnectionIDs, res.Next, err = tx.TenantConnectionIDs(ctx, in.TenantID, db.Page{Cursor: in.Cursor, Limit: in.Page})
		return err
	})
	return res, a.translate(ctx, poblysh.ConnectionRef{TenantID: in.TenantID}, err)
}

// DisconnectForDeletion disconnects one connection as DELETE
// /connections/{id} does (lifecycle.Service.Delete): schedules and
// workflows stopped, watch channels stopped, the token revoked at the
// provider where it allows. Its Signals are left to PurgeTenant, which
// deletes them in batches: a purge here deleted a connection's Signals in
// one transaction beside its row's lock, however many there were. A
// connection already gone is done, and counted by the attempt that
// deleted it: the operator job's progress is added in the transaction
// that deletes the row, so a retry after an attempt that committed (its
// completion lost: a timeout after the commit, a worker gone) counts
// nothing again. The provider's refusals are warnings, as for a
// connection delete.
func (a *Activities) DisconnectForDeletion(ctx context.Context, in TenantDeletionInput) (struct{}, error) {
	if a.Connections == nil {
		return struct{}{}, temporal.NewNonRetryableApplicationError("the worker has no connection lifecycle", ErrTypeInvalidConfig, nil)
	}
	defer keepAlive(ctx)()
	ref := poblysh.ConnectionRef{TenantID: in.TenantID, ConnectionID: in.ConnectionID}
	warnings, err := a.Connections.DeleteWith(ctx, in.TenantID, in.ConnectionID, false, func(tx *db.Tx) error {
		return tx.ProgressOperatorJobInTenantTx(ctx, in.JobID, 1, 0)
	})
	if poblysh.ErrorCode(err) == poblysh.ENOTFOUND {
		err = nil
	}
	if err != nil {
		return struct{}{}, a.translate(ctx, ref, err)
	}
	for _, w := range warnings {
		a.logger(ctx, ref).WithField("job_id", in.JobID).Warn("tenant deletion: " + w)
	}
	return struct{}{}, nil
}

// PurgeTenantResult counts the Signals purged.
type PurgeTenantResult struct{ Signals int }

// PurgeTenant deletes the tenant's Signals in batches (heartbeating), then
// its share of webhook deliveries and raw bodies and the tenant row, which
// takes every remaining row that names the tenant with it.
func (a *Activities) PurgeTenant(ctx context.Context, in TenantDeletionInput) (PurgeTenantResult, error) {
	ref := poblysh.ConnectionRef{TenantID: in.TenantID}
	var res PurgeTenantResult
	_, err := a.DB.PurgeSignalsInBatches(ctx, db.SignalScope{TenantID: in.TenantID}, func(tx *db.Tx, n int) error {
		if err := tx.ProgressOperatorJob(ctx, in.JobID, 0, n); err != nil {
			return err
		}
		res.Signals += n
		if activity.IsActivity(ctx) {
			activity.RecordHeartbeat(ctx, res.Signals)
		}
		return nil
	})
	if err != nil {
		return res, a.translate(ctx, ref, err)
	}
	err = a.DB.WithSystem(ctx, func(tx *db.Tx) error { return tx.DropTenant(ctx, in.TenantID) })
	return res, a.translate(ctx, ref, err)
}

// FinishOperatorJobInput ends an operator's job.
type FinishOperatorJobInput struct {
	JobID  string
	Status poblysh.JobStatus
	Error  string
}

// FinishOperatorJob records the final status of an operator's job. A job
// that is missing is an error (never a success).
func (a *Activities) FinishOperatorJob(ctx context.Context, in FinishOperatorJobInput) (struct{}, error) {
	err := a.DB.WithSystem(ctx, func(tx *db.Tx) error { return tx.FinishOperatorJob(ctx, in.JobID, in.Status, in.Error) })
	var appErr *temporal.ApplicationError
	if err != nil && !errors.As(err, &appErr) {
		err = a.translate(ctx, poblysh.ConnectionRef{}, err)
	}
	return struct{}{}, err
}
