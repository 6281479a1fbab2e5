package webhook

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/db"
	fakesandbox "github.com/poblysh/poblysh/sandbox/fake"
)

// TestNotifyWhileTemporalDown: a notify-only push that cannot reach
// Temporal is acknowledged with its nudge recorded (coalesced per
// connection and stream); DeliverPending sends the nudges once Temporal
// answers and keeps them while it does not. A nudge failing for another
// reason still fails the delivery (the provider retries).
func TestNotifyWhileTemporalDown(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	e.nudges.fail(poblysh.Unavailable("temporal", errors.New("connection refused")))
	for i := range 3 {
		out, err := e.in.Receive(ctx, e.p, e.request(fakesandbox.Delivery{DeliveryID: fmt.Sprintf("n%d", i), Account: "acct", Stream: "items", Notify: true}, true))
		require.NoError(t, err)
		require.Equal(t, Accepted, out.Status)
		require.Equal(t, 2, out.Connections)
	}
	require.Equal(t, 2, e.pendingNudges(), "one recorded nudge per connection and stream")
	require.Empty(t, e.nudges.calls)

	n, err := e.in.DeliverPending(ctx)
	require.Error(t, err, "Temporal is still down")
	require.Zero(t, n)
	require.Equal(t, 2, e.pendingNudges(), "undelivered nudges are kept")

	e.nudges.fail(nil)
	n, err = e.in.DeliverPending(ctx)
	require.NoError(t, err)
	require.Equal(t, 2, n)
	require.Zero(t, e.pendingNudges())
	require.ElementsMatch(t, []string{
		e.conns["a"].ID + ` "items" webhook`, e.conns["b"].ID + ` "items" webhook`,
	}, e.nudges.calls)

	// Temporal answered again: the next push nudges directly.
	_, err = e.in.Receive(ctx, e.p, e.request(fakesandbox.Delivery{DeliveryID: "n-live", Account: "acct", Stream: "items", Notify: true}, true))
	require.NoError(t, err)
	require.Len(t, e.nudges.calls, 4)
	require.Zero(t, e.pendingNudges())

	// Any other failure is not Temporal being away: nothing is recorded.
	e.nudges.fail(errors.New("boom"))
	_, err = e.in.Receive(ctx, e.p, e.request(fakesandbox.Delivery{DeliveryID: "n-boom", Account: "acct", Stream: "items", Notify: true}, true))
	require.Error(t, err)
	require.Zero(t, e.pendingNudges())
	var recorded int
	e.inTx(func(tx *db.Tx) error {
		return tx.GetContext(ctx, &recorded, `SELECT count(*) FROM webhook_events WHERE delivery_id = 'n-boom'`)
	})
	require.Zero(t, recorded, "a failed delivery is not recorded: the provider's retry is stored")
}

// hangingNudger is Temporal hanging rather than refusing, as the engine's
// client sees it: a nudge waits until its context ends and fails
// unavailable (the engine reports a deadline so). hangUp, when set, is the
// provider hanging up while the nudge waits.
type hangingNudger struct {
	*nudges
	hangUp context.CancelFunc
}

func (h hangingNudger) NudgeStream(ctx context.Context, _ *db.Connection, _ string, _ poblysh.Trigger) error {
	if h.hangUp != nil {
		h.hangUp()
	}
	<-ctx.Done()
	return poblysh.Unavailable("temporal", ctx.Err())
}

// TestNotifyWhileTemporalHangs: a notify-only push is answered within
// Slack's response budget (a 2xx within 3 s, network time included) while
// Temporal hangs, with its nudge recorded; and a provider that hangs up
// while the nudge waits does not undo the delivery. The nudge used to
// wait 3 s, the whole budget, and a hang-up rolled the delivery back with
// nothing recorded, no nudge deferred and Temporal not marked down, so
// each retry did the same and the push was lost.
func TestNotifyWhileTemporalHangs(t *testing.T) {
	t.Parallel()
	recorded := func(e *intakeEnv, id string) (n int) {
		e.inTx(func(tx *db.Tx) error {
			return tx.GetContext(context.Background(), &n, `SELECT count(*) FROM webhook_events WHERE delivery_id = $1`, id)
		})
		return n
	}
	t.Run("answered in time", func(t *testing.T) {
		t.Parallel()
		e := setup(t)
		e.in.Nudger = hangingNudger{nudges: e.nudges}
		start := time.Now()
		out, err := e.in.Receive(context.Background(), e.p, e.request(fakesandbox.Delivery{DeliveryID: "slow", Account: "acct", Stream: "items", Notify: true}, true))
		elapsed := time.Since(start)
		require.NoError(t, err)
		require.Equal(t, Accepted, out.Status)
		require.Less(t, elapsed, 2*time.Second, "Slack wants the answer within 3 s, network time included")
		require.Equal(t, 1, recorded(e, "slow"))
		require.Equal(t, 2, e.pendingNudges(), "both routed connections' nudges are recorded")
		require.True(t, e.in.down.down(), "Temporal is marked down: the next pushes do not wait")
	})
	t.Run("provider hangs up", func(t *testing.T) {
		t.Parallel()
		e := setup(t)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		e.in.Nudger = hangingNudger{nudges: e.nudges, hangUp: cancel}
		out, err := e.in.Receive(ctx, e.p, e.request(fakesandbox.Delivery{DeliveryID: "hangup", Account: "acct", Stream: "items", Notify: true}, true))
		require.NoError(t, err, "a verified delivery is stored whether or not its sender still waits")
		require.Equal(t, Accepted, out.Status)
		require.Equal(t, 1, recorded(e, "hangup"))
		require.Equal(t, 2, e.pendingNudges())
		require.True(t, e.in.down.down())
	})
}

// pendingNudges counts the recorded nudges.
func (e *intakeEnv) pendingNudges() (n int) {
	e.inTx(func(tx *db.Tx) error {
		return tx.GetContext(context.Background(), &n, `SELECT count(*) FROM pending_nudges`)
	})
	return n
}

// hookedNudger runs after once its first nudge reached Temporal.
type hookedNudger struct {
	*nudges
	once  sync.Once
	after func()
}

func (h *hookedNudger) NudgeStream(ctx context.Context, c *db.Connection, stream string, trigger poblysh.Trigger) error {
	if err := h.nudges.NudgeStream(ctx, c, stream, trigger); err != nil {
		return err
	}
	h.once.Do(h.after)
	return nil
}

// TestNudgeRecordedWhileOthersAreSentIsKept: a notify-only push recorded
// while the recorded nudges of the same streams are being sent (Temporal
// just came back; this process, and others, still record for a few
// seconds) is acknowledged and sent in the next round. It coalesced into
// the row being sent, which was then deleted: a lost sync after an
// acknowledged delivery.
func TestNudgeRecordedWhileOthersAreSentIsKept(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	e.nudges.fail(poblysh.Unavailable("temporal", errors.New("connection refused")))
	_, err := e.in.Receive(ctx, e.p, e.request(fakesandbox.Delivery{DeliveryID: "before", Account: "acct", Stream: "items", Notify: true}, true))
	require.NoError(t, err)
	before := e.pendingNudges()
	require.Positive(t, before)

	e.nudges.fail(nil)
	h := &hookedNudger{nudges: e.nudges}
	var during *Outcome
	var duringErr error
	h.after = func() {
		during, duringErr = e.in.Receive(ctx, e.p, e.request(fakesandbox.Delivery{DeliveryID: "during", Account: "acct", Stream: "items", Notify: true}, true))
	}
	e.in.Nudger = h
	n, err := e.in.DeliverPending(ctx)
	require.NoError(t, err)
	require.Equal(t, before, n)
	require.NoError(t, duringErr)
	require.Equal(t, "accepted", during.Status)
	// Its nudges are kept (one row per routed stream; a row read before
	// the push and sent after it is sent once more, which the workflow
	// coalesces), and sent in the next round.
	require.Equal(t, before, e.pendingNudges(), "the nudges recorded meanwhile are kept")
	sent := len(e.nudges.calls)
	n, err = e.in.DeliverPending(ctx)
	require.NoError(t, err)
	require.Equal(t, before, n)
	require.Len(t, e.nudges.calls, sent+before, "and sent")
	require.Zero(t, e.pendingNudges())
}

// refusingNudger refuses the nudges of the connections to account "acct"
// as the engine reports a refusal of their streams' workflow that is not
// Temporal being unavailable (an invalid request, say), and takes the
// others.
type refusingNudger struct{ *nudges }

func (r refusingNudger) NudgeStream(ctx context.Context, c *db.Connection, stream string, trigger poblysh.Trigger) error {
	if c.ExternalAccountID == "acct" {
		return fmt.Errorf("nudge q:sync/%s/%s: %w", c.ID, stream, errors.New("input exceeds size limit"))
	}
	return r.nudges.NudgeStream(ctx, c, stream, trigger)
}

// TestRefusedNudgeDoesNotHoldBackOthers: recorded nudges that Temporal,
// back, refuses for their own streams' reasons are dropped with a warning
// and the others are sent. DeliverPending used to stop at the first
// failure, oldest first, so one stream's refusal held back every other
// tenant's nudges until it passed.
func TestRefusedNudgeDoesNotHoldBackOthers(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	e.nudges.fail(poblysh.Unavailable("temporal", errors.New("connection refused")))
	// The refused nudges (tenants a and b, account "acct") are the oldest.
	for _, d := range []fakesandbox.Delivery{
		{DeliveryID: "refused", Account: "acct", Stream: "items", Notify: true},
		{DeliveryID: "taken", Account: "other", Stream: "items", Notify: true},
	} {
		_, err := e.in.Receive(ctx, e.p, e.request(d, true))
		require.NoError(t, err)
	}
	require.Equal(t, 3, e.pendingNudges())

	e.nudges.fail(nil)
	e.in.Nudger = refusingNudger{e.nudges}
	e.in.Log.SetLevel(logrus.WarnLevel)
	logged := logtest.NewLocal(e.in.Log)
	n, err := e.in.DeliverPending(ctx)
	require.NoError(t, err, "Temporal answered")
	require.Equal(t, 3, n)
	require.Equal(t, []string{e.conns["c"].ID + ` "items" webhook`}, e.nudges.calls, "the other tenant's nudge is sent")
	require.Zero(t, e.pendingNudges(), "the refused nudges are dropped, not refused again every round")
	var dropped []any
	for _, entry := range logged.AllEntries() {
		if entry.Level == logrus.WarnLevel {
			dropped = append(dropped, entry.Data["connection_id"])
		}
	}
	require.ElementsMatch(t, []any{e.conns["a"].ID, e.conns["b"].ID}, dropped, "each dropped nudge is logged")
	require.False(t, e.in.down.down(), "Temporal is not taken for down")
}

// deletingNudger is a DELETE /connections/{id} of victim committing while
// a delivery's transaction sends its first nudge: after the transaction
// looked up its routes, which locks no connection row.
type deletingNudger struct {
	*nudges
	e      *intakeEnv
	victim *db.Connection
	once   sync.Once
	err    error // the delete's
}

func (n *deletingNudger) NudgeStream(ctx context.Context, c *db.Connection, stream string, trigger poblysh.Trigger) error {
	n.once.Do(func() { n.err = n.e.deleteConnection(n.victim) })
	return n.nudges.NudgeStream(ctx, c, stream, trigger)
}

// deleteConnection deletes c as DELETE /connections/{id} does, its Signals
// kept.
func (e *intakeEnv) deleteConnection(c *db.Connection) error {
	ctx := context.Background()
	return e.in.DB.WithTenant(ctx, c.TenantID, func(tx *db.Tx) error {
		return tx.DeleteConnection(ctx, c.ID, false)
	})
}

// TestNotifyBesideADeleteNudgesTheOthers: a notify-only push routed to
// three tenants' connections, the second of which (in route order) is
// deleted once the delivery has looked up its routes, is accepted, and
// the other two are nudged, or with Temporal down their nudges recorded;
// the deleted one is not. Reading the deleted connection for its nudge
// failed not found: the provider was answered 404, the transaction rolled
// back with the nudges recorded in it, and the connections after it in
// route order were never nudged. GitHub does not redeliver, so after an
// app-level access event a surviving tenant's connection kept the route of
// a repository it had lost until its next sync.
func TestNotifyBesideADeleteNudgesTheOthers(t *testing.T) {
	t.Parallel()
	for _, down := range []bool{false, true} {
		t.Run(map[bool]string{false: "Temporal up", true: "Temporal down"}[down], func(t *testing.T) {
			t.Parallel()
			e := setup(t)
			ctx := context.Background()
			e.connectStreams("d", "acct", []string{"items"})
			var routes []db.Route
			e.inTx(func(tx *db.Tx) (err error) {
				routes, err = tx.LookupRoutes(ctx, "fake", []string{"account:acct"})
				return err
			})
			require.Len(t, routes, 3)
			names := map[string]string{}
			for name, c := range e.conns {
				names[c.ID] = name
			}
			victim := e.conns[names[routes[1].ConnectionID]]
			if down {
				e.nudges.fail(poblysh.Unavailable("temporal", errors.New("connection refused")))
			}
			n := &deletingNudger{nudges: e.nudges, e: e, victim: victim}
			e.in.Nudger = n

			out, err := e.in.Receive(ctx, e.p, e.request(fakesandbox.Delivery{DeliveryID: "beside", Account: "acct", Stream: "items", Notify: true}, true))
			require.NoError(t, n.err, "the delete committed")
			require.NoError(t, err, "code %s", poblysh.ErrorCode(err))
			require.Equal(t, Accepted, out.Status)
			if down {
				require.ElementsMatch(t, []string{names[routes[0].ConnectionID] + "/", names[routes[2].ConnectionID] + "/"},
					e.pendingRows(), "the surviving connections' nudges (of every stream: the route names none) are recorded")
				require.Empty(t, e.nudges.calls)
				return
			}
			require.ElementsMatch(t, []string{routes[0].ConnectionID + ` "items" webhook`, routes[2].ConnectionID + ` "items" webhook`},
				e.nudges.calls, "the surviving connections are nudged, the deleted one is not")
			require.Zero(t, e.pendingNudges())
		})
	}
}
