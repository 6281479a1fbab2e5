package webhook

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/db"
)

// Notify-only pushes need Temporal (a nudge of the stream's sync workflow,
// or of every stream's when the push names none); deliveries that carry
// their events do not. When Temporal cannot be reached, or does not take a
// nudge within the delivery's bound, the nudge is recorded in the
// delivery's transaction (pending_nudges) and the delivery is
// acknowledged: the provider need not retry, and a provider that retries
// only for a while (Google's push channels, Pub/Sub) loses nothing however
// long the outage. DeliverPending sends recorded nudges once Temporal
// answers.

const (
	// nudgeTimeout bounds the nudges of one connection a delivery sends,
	// so a webhook is answered within the tightest provider's budget
	// while Temporal hangs rather than refuses: Slack wants a 2xx within
	// 3 s, network time included, and a delivery's transaction has its
	// own work to do. A nudge that Temporal takes needs milliseconds; what
	// the bound does not cover is recorded, stream by stream.
	nudgeTimeout = 1 * time.Second
	// pendingNudgeTimeout bounds one recorded nudge (one stream) sent in
	// the background, where no provider waits: a slow Temporal still
	// takes it.
	pendingNudgeTimeout = 3 * time.Second
	// nudgeConcurrency is how many nudges of one connection (a push that
	// names no stream nudges every stream: a GitHub connection may follow
	// 100 repositories, three streams each, and Slack has no cap on
	// channels), or of one round of recorded nudges, are in flight at once.
	nudgeConcurrency = 8
	// downFor: after a nudge failed for want of Temporal, deliveries record
	// their nudges without trying for this long.
	downFor = 5 * time.Second
	// pendingBatch is how many recorded nudges one round delivers.
	pendingBatch = 100
)

// temporalDown is set (to a deadline, Unix nanoseconds) when a nudge found
// Temporal unreachable.
type temporalDown struct{ until atomic.Int64 }

func (t *temporalDown) down() bool { return time.Now().UnixNano() < t.until.Load() }
func (t *temporalDown) mark()      { t.until.Store(time.Now().Add(downFor).UnixNano()) }
func (t *temporalDown) clear()     { t.until.Store(0) }
func unavailable(err error) bool   { return poblysh.ErrorCode(err) == poblysh.EUNAVAILABLE }

// errNotSent is the outcome of a nudge fanOut did not start.
var errNotSent = errors.New("nudge not sent")

// fanOut sends nudges 0 to n-1 in order, at most nudgeConcurrency at once,
// and returns each one's error. Once one fails unavailable, or ctx ends,
// it starts no more (their error is errNotSent): Temporal is in trouble,
// or the caller's bound is spent.
func fanOut(ctx context.Context, n int, send func(i int) error) []error {
	errs := make([]error, n)
	slots := make(chan struct{}, nudgeConcurrency)
	var stop atomic.Bool
	var wg sync.WaitGroup
	i := 0
	for ; i < n; i++ {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil || stop.Load() {
			break
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs[i] = send(i)
			if unavailable(errs[i]) {
				stop.Store(true)
			}
			<-slots
		}(i)
	}
	for ; i < n; i++ {
		errs[i] = errNotSent
	}
	wg.Wait()
	return errs
}

// nudge asks a routed connection's stream, or every stream (stream ""),
// for a sync pass; what Temporal does not take within the delivery's bound
// it records in tx instead. Each stream is one round trip, at most
// nudgeConcurrency at once, within one bound (nudgeTimeout) for all of
// them. Temporal is taken for down (downFor) only when it answered none of
// them: a bound that ran out while Temporal answered the others, on a
// connection with many streams or a slow workflow, says nothing about
// other tenants' pushes, so only the nudges it did not cover are recorded,
// one per stream.
func (in *Intake) nudge(ctx context.Context, tx *db.Tx, c *db.Connection, stream string) error {
	deferred := db.PendingNudge{TenantID: c.TenantID, ConnectionID: c.ID, Stream: stream, Trigger: string(poblysh.TriggerWebhook)}
	if in.down.down() {
		return tx.DeferNudge(ctx, deferred)
	}
	streams := []string{stream}
	if stream == "" {
		var err error
		if streams, err = in.Nudger.Streams(c); err != nil {
			return err
		}
	}
	nctx, cancel := context.WithTimeout(ctx, nudgeTimeout)
	errs := fanOut(nctx, len(streams), func(i int) error {
		return in.Nudger.NudgeStream(nctx, c, streams[i], poblysh.TriggerWebhook)
	})
	cancel()
	var unsent []string
	var cause error
	answered := 0
	for i, err := range errs {
		switch {
		case err == nil:
			answered++
		case errors.Is(err, errNotSent):
			unsent = append(unsent, streams[i])
		case unavailable(err):
			unsent = append(unsent, streams[i])
			cause = cmp.Or(cause, err)
		default:
			// Temporal refused the stream's workflow: the delivery
			// fails and the provider retries.
			return err
		}
	}
	log := in.log().WithFields(logrus.Fields{"provider": c.Provider, "connection_id": c.ID, "stream": stream})
	switch {
	case len(unsent) == 0:
		return nil
	case answered == 0:
		// Temporal answered none of them within the bound. ctx is the
		// delivery's own (Receive), not its sender's, so a sender hanging
		// up cannot make this look like anything else: it used to skip
		// both the mark and the record, and roll the delivery back.
		in.down.mark()
		log.WithError(cmp.Or(cause, errNotSent)).Warn("temporal unreachable: the sync nudge is recorded and sent when it is back")
		return tx.DeferNudge(ctx, deferred)
	}
	log.WithError(cause).WithField("streams", len(unsent)).
		Info("sync nudges not sent within the delivery's bound: recorded and sent in the background")
	return tx.DeferStreamNudges(ctx, deferred, unsent)
}

// DeliverPending sends recorded nudges, oldest first, and returns how many
// it delivered or dropped. A recorded nudge of every stream (Stream "") is
// first replaced with one per stream, as old as it, so that each nudge is
// one round trip with its own bound (pendingNudgeTimeout), at most
// nudgeConcurrency at once: a connection with many streams used to be one
// nudge, which ran out of its bound, and held back every nudge queued
// behind it. A nudge that finds Temporal unavailable is kept for the next
// call, and no more are started; when Temporal answered none, the error is
// returned (the rest wait for the next call), and when it answered
// others, the kept nudge's stream was slow, not Temporal down, and the
// round succeeds. A nudge of a connection deleted, paused or out of
// service since is dropped: its next sync reads the changes anyway. So is
// one Temporal refuses for another reason, with a warning: that refusal is
// the stream's own (the client has retried what may pass), kept it would
// be refused every round, and at the head of the queue it held back every
// other tenant's nudges; the stream's next push or poll (every connection
// has a polling schedule) reads its changes.
// No transaction is held while Temporal is asked: a push recorded
// meanwhile (its row's seq moves on) keeps its row for the next round. It
// was coalesced into the row being sent, which the send's transaction held
// and then deleted, and was lost after its delivery had been acknowledged.
func (in *Intake) DeliverPending(ctx context.Context) (int, error) {
	pending, err := in.pendingNudges(ctx)
	if err != nil {
		return 0, err
	}
	conns := map[string]*db.Connection{} // nil: deleted
	connection := func(id string) (*db.Connection, error) {
		if c, ok := conns[id]; ok {
			return c, nil
		}
		var c *db.Connection
		err := in.DB.WithSystem(ctx, func(tx *db.Tx) (err error) {
			c, err = tx.FindConnection(ctx, id)
			return err
		})
		if poblysh.ErrorCode(err) == poblysh.ENOTFOUND {
			c, err = nil, nil
		}
		if err == nil {
			conns[id] = c
		}
		return c, err
	}
	delivered := 0
	var done []db.PendingNudge // delivered or dropped
	if slices.ContainsFunc(pending, func(p db.PendingNudge) bool { return p.Stream == "" }) {
		for _, p := range pending {
			if p.Stream != "" {
				continue
			}
			c, err := connection(p.ConnectionID)
			if err != nil {
				return delivered, err
			}
			var streams []string
			if c != nil && c.Active() {
				if streams, err = in.Nudger.Streams(c); err != nil {
					in.log().WithFields(logrus.Fields{"provider": c.Provider, "connection_id": c.ID}).
						WithError(err).Warn("recorded sync nudge of every stream dropped: the connection's streams are unknown")
				}
			}
			err = in.DB.WithSystem(ctx, func(tx *db.Tx) error {
				if len(streams) == 0 {
					return tx.DeleteNudge(ctx, p)
				}
				return tx.ExpandNudge(ctx, p, streams)
			})
			if err != nil {
				return delivered, err
			}
			if len(streams) == 0 {
				delivered++
			}
		}
		if pending, err = in.pendingNudges(ctx); err != nil {
			return delivered, err
		}
	}
	var send []db.PendingNudge
	var sendTo []*db.Connection
	for _, p := range pending {
		if p.Stream == "" {
			continue // recorded since, and not expanded yet: the next round's
		}
		c, err := connection(p.ConnectionID)
		if err != nil {
			return delivered, err
		}
		if c == nil || !c.Active() {
			done = append(done, p)
			continue
		}
		send, sendTo = append(send, p), append(sendTo, c)
	}
	errs := fanOut(ctx, len(send), func(i int) error {
		nctx, cancel := context.WithTimeout(ctx, pendingNudgeTimeout)
		defer cancel()
		return in.Nudger.NudgeStream(nctx, sendTo[i], send[i].Stream, poblysh.Trigger(send[i].Trigger))
	})
	answered, kept := 0, 0
	var cause error
	for i, err := range errs {
		p, c := send[i], sendTo[i]
		switch {
		case errors.Is(err, errNotSent):
			kept++
			continue
		case unavailable(err) || err != nil && ctx.Err() != nil:
			kept++
			cause = cmp.Or(cause, err)
			continue
		case err != nil:
			in.log().WithFields(logrus.Fields{"provider": c.Provider, "connection_id": c.ID, "stream": p.Stream}).
				WithError(err).Warn("recorded sync nudge refused: dropped; the stream's next push or poll reads its changes")
		}
		answered++
		done = append(done, p)
	}
	if len(done) > 0 {
		if err := in.DB.WithSystem(ctx, func(tx *db.Tx) error { return tx.DeleteNudges(ctx, done) }); err != nil {
			return delivered, err
		}
		delivered += len(done)
	}
	switch {
	case ctx.Err() != nil:
		return delivered, ctx.Err()
	case cause != nil && answered == 0:
		return delivered, cause // the rest wait for the next call
	case kept > 0:
		in.log().WithError(cause).WithField("nudges", kept).
			Info("recorded sync nudges not sent within their bound while Temporal answered others: kept for the next round")
	}
	in.down.clear()
	return delivered, nil
}

// pendingNudges reads the oldest recorded nudges.
func (in *Intake) pendingNudges(ctx context.Context) (pending []db.PendingNudge, err error) {
	err = in.DB.WithSystem(ctx, func(tx *db.Tx) (err error) {
		pending, err = tx.PendingNudges(ctx, pendingBatch)
		return err
	})
	return pending, err
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
