package lifecycle

import (
	"context"

	"github.com/sirupsen/logrus"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/db"
)

// A connection is stored before Temporal is asked to activate it, with a
// mark saying what it is owed (db.Activation), set in the same
// transaction. The request that stored it activates it right after its
// commit; when Temporal cannot be reached then, the request still
// succeeds (what it stored is stored: a spent OAuth grant cannot be asked
// for again, and a client retrying an update would change nothing more),
// and the worker's activation sweep (ActivatePending) does what is owed
// once Temporal answers.

// activateOrDefer activates c, which a request has just stored marked, or
// leaves the mark for the activation sweep when that fails.
func (s *Service) activateOrDefer(ctx context.Context, c *db.Connection) {
	if _, err := s.activateOwed(ctx, c); err != nil {
		s.log().WithFields(logrus.Fields{"tenant_id": c.TenantID, "connection_id": c.ID, "provider": c.Provider,
			"activation": c.ActivationPending}).WithError(err).
			Warn("connection stored but not activated; the worker's activation sweep activates it once Temporal answers")
	}
}

// ActivatePending does what c's activation mark owes, for the worker's
// activation sweep: the request that marked the connection could not. It
// reports whether it activated one: a connection deleted since, or no
// longer marked, needs nothing. One that fails has its mark moved behind
// the others and the error returned.
func (s *Service) ActivatePending(ctx context.Context, ref poblysh.ConnectionRef) (bool, error) {
	c, err := s.Find(ctx, ref.TenantID, ref.ConnectionID)
	if poblysh.ErrorCode(err) == poblysh.ENOTFOUND {
		return false, nil
	}
	if err != nil || c.ActivationPending == "" {
		return false, err
	}
	if _, err := s.activateOwed(ctx, c); err != nil {
		if perr := s.DB.WithTenant(ctx, c.TenantID, func(tx *db.Tx) error { return tx.PostponeActivation(ctx, c) }); perr != nil {
			s.log().WithField("connection_id", c.ID).WithError(perr).Warn("could not postpone a failed activation")
		}
		return false, err
	}
	return true, nil
}

// activateOwed does what c's mark owes (a backfill after a connect; the
// change applied, and a catch-up after a resume or a new config, after an
// update), then takes the mark off unless a request marked c again since.
// A backfill that Activate skipped, c being inactive (paused), stays owed
// (db.Tx.HoldBackfill): the resume's mark asks for it again.
func (s *Service) activateOwed(ctx context.Context, c *db.Connection) ([]db.Job, error) {
	var jobs []db.Job
	var err error
	held := false
	switch c.ActivationPending {
	case "":
		return nil, nil
	case db.ActivateBackfill:
		jobs, err = s.Activate(ctx, c, true, poblysh.TriggerConnect)
		held = !c.Active()
	default:
		_, err = s.Activate(ctx, c, false, poblysh.TriggerManual)
		if err == nil && c.ActivationPending == db.ActivateSync && c.Active() {
			jobs, err = s.Workflows.RequestSync(ctx, c, poblysh.ModeIncremental, poblysh.TriggerManual)
		}
	}
	if err != nil {
		return nil, err
	}
	err = s.DB.WithTenant(ctx, c.TenantID, func(tx *db.Tx) error {
		if held {
			_, err := tx.HoldBackfill(ctx, c)
			return err
		}
		_, err := tx.ClearActivation(ctx, c)
		return err
	})
	return jobs, err
}
