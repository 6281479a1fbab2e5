package activities

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/lifecycle"
)

// errConfigChanged: the connection's config changed while a page ran.
var errConfigChanged = errors.New("the connection's config changed while a page ran")

// follow moves the connection to the ref its stream's resource has now,
// for good (a page's Moved: a Slack legacy private channel shared through
// Slack Connect), once its own token proves it can read it: in one
// transaction the config names the new ref (what GET /connections shows),
// the resource is replaced by the one proved, the cursors move
// (connectors.ResourceMove) and the routes are rebuilt; the connection is
// marked for activation, as a PATCH of its config is, and activated at
// once (schedules, watch channels, a catch-up sync of every stream) or by
// the worker's activation sweep. A new ref the token cannot read leaves
// the old one lost, as a sync that cannot read it does. A config that no
// longer names the stream's resource (a PATCH, or a pass that followed it
// already) has nothing to follow.
func (st *syncStream) follow(ctx context.Context, to string) error {
	a, in := st.a, st.in
	mover, canMove := st.p.Connector.(connectors.ResourceMover)
	prover, canProve := st.p.Connector.(connectors.AccessProver)
	if !canMove || !canProve || !st.hasRef {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s: a page of stream %s says its resource moved, but the connector does not move resources",
			in.Provider, in.Stream), ErrTypeInvalidConfig, nil)
	}
	log := a.logger(ctx, in.ConnectionRef).WithField("resource", st.ref).WithField("moved_to", to)
	refs, err := prover.ResourceRefs(st.view)
	if err != nil {
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeInvalidConfig, nil)
	}
	if !slices.Contains(refs, st.ref) {
		log.Info("the stream's resource moved, but the connection no longer names it")
		return nil
	}
	mv, err := mover.MoveResource(st.view, st.ref, to)
	if err != nil {
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeInvalidConfig, nil)
	}
	view := st.view
	view.Config = mv.Config
	report, err := prover.ProveAccess(ctx, connectors.AccessRequest{Connection: view, HTTP: st.hc, Only: []string{to}})
	if err != nil {
		return a.translate(ctx, in.ConnectionRef, err)
	}
	i := slices.IndexFunc(report.Granted, func(r connectors.Resource) bool { return r.Ref == to })
	if i < 0 {
		cause := fmt.Errorf("%w: %s is gone, and the connection cannot read %s, where it moved", connectors.ErrNotFound, st.ref, to)
		a.loseAccess(ctx, in.ConnectionRef, st.p, st.ref, cause)
		return temporal.NewNonRetryableApplicationError(cause.Error(), ErrTypeNotFound, nil)
	}
	var moved *db.Connection
	err = a.DB.WithTenant(ctx, in.TenantID, func(tx *db.Tx) error {
		c, err := tx.LockConnection(ctx, in.ConnectionID)
		if err != nil {
			return err
		}
		if !bytes.Equal(c.Config, st.conn.Config) {
			return errConfigChanged
		}
		if c, err = tx.UpdateConnection(ctx, c.ID, db.ConnectionPatch{Config: &mv.Config}); err != nil {
			return err
		}
		if err := tx.DeleteResource(ctx, c.ID, st.ref); err != nil {
			return err
		}
		if err := tx.GrantResource(ctx, c.ID, lifecycle.ResourceRows(report.Granted[i : i+1])[0]); err != nil {
			return err
		}
		for from, to := range mv.Streams {
			if _, err := tx.MoveCursor(ctx, c.ID, from, to); err != nil {
				return err
			}
		}
		if err := lifecycle.RebuildRoutes(ctx, tx, st.p, c); err != nil {
			return err
		}
		moved = c
		return tx.MarkActivation(ctx, c, db.ActivateSync)
	})
	if errors.Is(err, errConfigChanged) {
		return temporal.NewApplicationErrorWithOptions(err.Error()+"; re-reading it", ErrTypeTransient,
			temporal.ApplicationErrorOptions{NextRetryDelay: time.Second})
	}
	if err != nil {
		return a.translate(ctx, in.ConnectionRef, err)
	}
	log.WithField("config", string(moved.Config)).Info("the resource moved at the provider; the connection follows it")
	if a.Connections != nil {
		if _, err := a.Connections.ActivatePending(ctx, in.ConnectionRef.Connection()); err != nil {
			log.WithError(err).Warn("connection moved but not activated; the worker's activation sweep activates it")
		}
	}
	return nil
}
