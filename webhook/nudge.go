package webhook

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/db"
)

// Notify-only pushes need Temporal (a nudge of the stream's sync workflow);
// deliveries that carry their events do not. When Temporal cannot be
// reached the nudge is recorded in the delivery's transaction
// (pending_nudges) and the delivery is acknowledged: the provider need not
// retry, and a provider that retries only for a while (Google's push
// channels, Pub/Sub) loses nothing however long the outage. DeliverPending sends recorded nudges once Temporal answers.

const (
	// nudgeTimeout bounds one nudge of a delivery, so a webhook is
	// answered within the tightest provider's budget while Temporal hangs
	// rather than refuses: Slack wants a 2xx within 3 s, network time
	// included, and a delivery's transaction has its own work to do. A
	// nudge that Temporal takes needs milliseconds.
	nudgeTimeout = 1 * time.Second
	// pendingNudgeTimeout bounds one recorded nudge sent in the
	// background, where no provider waits: a slow Temporal still takes it.
	pendingNudgeTimeout = 3 * time.Second
	// downFor: after a nudge failed for want of Temporal, deliveries record
	// their nudges without trying for this long.
	downFor = 5 * time.Second
	// pendingBatch is how many recorded nudges one transaction delivers.
	pendingBatch = 100
)

// temporalDown is set (to a deadline, Unix nanoseconds) when a nudge found
// Temporal unreachable.
type temporalDown struct{ until atomic.Int64 }

func (t *temporalDown) down() bool { return time.Now().UnixNano() < t.until.Load() }
func (t *temporalDown) mark()      { t.until.Store(time.Now().Add(downFor).UnixNano()) }
func (t *temporalDown) clear()     { t.until.Store(0) }
func unavailable(err error) bool   { return poblysh.ErrorCode(err) == poblysh.EUNAVAILABLE }

// nudge asks a routed connection's stream (or every stream) for a sync
// pass; when Temporal is unreachable it records the nudge in tx instead.
func (in *Intake) nudge(ctx context.Context, tx *db.Tx, c *db.Connection, stream string) error {
	if !in.down.down() {
		nctx, cancel := context.WithTimeout(ctx, nudgeTimeout)
		err := in.Nudger.NudgeStreams(nctx, c, stream, poblysh.TriggerWebhook)
		cancel()
		if err == nil {
			return nil
		}
		if !unavailable(err) {
			return err
		}
		// Temporal did not answer within the nudge's bound. ctx is the
		// delivery's own (Receive), not its sender's, so a sender hanging
		// up cannot make this look like anything else: it used to skip
		// both the mark and the record, and roll the delivery back.
		in.down.mark()
		in.log().WithFields(logrus.Fields{"provider": c.Provider, "connection_id": c.ID, "stream": stream}).
			WithError(err).Warn("temporal unreachable: the sync nudge is recorded and sent when it is back")
	}
	return tx.DeferNudge(ctx, db.PendingNudge{TenantID: c.TenantID, ConnectionID: c.ID, Stream: stream,
		Trigger: string(poblysh.TriggerWebhook)})
}

// DeliverPending sends recorded nudges, oldest first, and returns how many
// it delivered or dropped. It stops at the first nudge that finds Temporal
// unavailable (the rest wait for the next call). A nudge of a connection
// deleted, paused or out of service since is dropped: its next sync reads
// the changes anyway. So is one Temporal refuses for another reason, with
// a warning: that refusal is the stream's own (the client has retried
// what may pass), kept it would be refused every round, and at the head
// of the queue it held back every other tenant's nudges; the stream's
// next push or poll (every connection has a polling schedule) reads its
// changes.
// No transaction is held while Temporal is asked: a push recorded
// meanwhile (its row's seq moves on) keeps its row for the next round. It
// was coalesced into the row being sent, which the send's transaction held
// and then deleted, and was lost after its delivery had been acknowledged.
func (in *Intake) DeliverPending(ctx context.Context) (int, error) {
	var pending []db.PendingNudge
	err := in.DB.WithSystem(ctx, func(tx *db.Tx) (err error) {
		pending, err = tx.PendingNudges(ctx, pendingBatch)
		return err
	})
	if err != nil {
		return 0, err
	}
	delivered := 0
	for _, p := range pending {
		var c *db.Connection
		err := in.DB.WithSystem(ctx, func(tx *db.Tx) (err error) {
			c, err = tx.FindConnection(ctx, p.ConnectionID)
			return err
		})
		switch {
		case poblysh.ErrorCode(err) == poblysh.ENOTFOUND:
		case err != nil:
			return delivered, err
		case c.Active():
			nctx, cancel := context.WithTimeout(ctx, pendingNudgeTimeout)
			err = in.Nudger.NudgeStreams(nctx, c, p.Stream, poblysh.Trigger(p.Trigger))
			cancel()
			if unavailable(err) || err != nil && ctx.Err() != nil {
				return delivered, err // the rest wait for the next call
			}
			if err != nil {
				in.log().WithFields(logrus.Fields{"provider": c.Provider, "connection_id": c.ID, "stream": p.Stream}).
					WithError(err).Warn("recorded sync nudge refused: dropped; the stream's next push or poll reads its changes")
			}
		}
		if err := in.DB.WithSystem(ctx, func(tx *db.Tx) error { return tx.DeleteNudge(ctx, p) }); err != nil {
			return delivered, err
		}
		delivered++
	}
	in.down.clear()
	return delivered, nil
}

// RunPending delivers recorded nudges at start and then every interval,
// until ctx ends (the API runs it; several processes may).
func (in *Intake) RunPending(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	failing := false
	for {
		for {
			n, err := in.DeliverPending(ctx)
			if n > 0 {
				in.log().WithField("nudges", n).Info("recorded sync nudges delivered")
			}
			switch {
			case err != nil && ctx.Err() == nil && !failing:
				failing = true
				in.log().WithError(err).Warn("recorded sync nudges not delivered yet")
			case err == nil:
				failing = false
			}
			if err != nil || n < pendingBatch {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
