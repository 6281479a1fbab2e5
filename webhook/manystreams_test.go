package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/engine"
	"github.com/poblysh/poblysh/lifecycle"
	fakesandbox "github.com/poblysh/poblysh/sandbox/fake"
	"github.com/poblysh/poblysh/testenv"
	"github.com/poblysh/poblysh/workflows"
)

// connectStreams connects a tenant named name to the fake provider's
// account with the given streams (routed by "account:<account>", a key
// that names no stream: a push nudges every stream).
func (e *intakeEnv) connectStreams(name, account string, streams []string) *db.Connection {
	e.t.Helper()
	ctx := context.Background()
	cfg, err := json.Marshal(map[string]any{"streams": streams})
	require.NoError(e.t, err)
	var tenantID string
	require.NoError(e.t, e.in.DB.WithSystem(ctx, func(tx *db.Tx) error {
		tn, _, _, err := tx.CreateTenant(ctx, name)
		tenantID = tn.ID
		return err
	}))
	var c *db.Connection
	require.NoError(e.t, e.in.DB.WithTenant(ctx, tenantID, func(tx *db.Tx) (err error) {
		if c, _, err = tx.UpsertConnection(ctx, db.ConnectionUpsert{Provider: "fake", ExternalAccountID: account, DisplayName: name, Config: cfg}); err != nil {
			return err
		}
		return lifecycle.RebuildRoutes(ctx, tx, e.p, c)
	}))
	e.conns[name] = c
	return c
}

// pendingRows lists the recorded nudges as "<tenant name>/<stream>".
func (e *intakeEnv) pendingRows() []string {
	names := map[string]string{}
	for name, c := range e.conns {
		names[c.ID] = name
	}
	var rows []db.PendingNudge
	e.inTx(func(tx *db.Tx) (err error) {
		rows, err = tx.PendingNudges(context.Background(), 10000)
		return err
	})
	out := []string{}
	for _, r := range rows {
		out = append(out, names[r.ConnectionID]+"/"+r.Stream)
	}
	slices.Sort(out)
	return out
}

// deliverAll runs DeliverPending until no recorded nudge is left, each
// round answered without error, and returns how many it delivered.
func (e *intakeEnv) deliverAll(rounds int) int {
	e.t.Helper()
	total := 0
	for range rounds {
		n, err := e.in.DeliverPending(context.Background())
		require.NoError(e.t, err, "Temporal answers every call")
		total += n
		if e.pendingNudges() == 0 {
			return total
		}
	}
	require.Zero(e.t, e.pendingNudges(), "every recorded nudge is delivered within %d rounds", rounds)
	return total
}

// TestMain stops the package's Temporal dev server (testenv.Temporal)
// once the tests are done.
func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

func streamNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("s%03d", i)
	}
	return out
}

// slowTemporal is the engine's Temporal a round trip away: every
// signal-with-start takes delay more (a server across a network, or under
// load), and fails with the caller's deadline when that comes first.
type slowTemporal struct {
	client.Client
	delay time.Duration
}

func (s slowTemporal) SignalWithStartWorkflow(ctx context.Context, id, signal string, arg any, o client.StartWorkflowOptions, wf any, args ...any) (client.WorkflowRun, error) {
	select {
	case <-time.After(s.delay):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return s.Client.SignalWithStartWorkflow(ctx, id, signal, arg, o, wf, args...)
}

// TestManyStreamsAreNudgedWithoutTakingTemporalDown: with the real engine
// against a real Temporal that answers every call in 40 ms or more, a push
// that names no stream, to a connection with 100 streams (GitHub follows up
// to 100 repositories, three streams each; Slack has no cap on channels),
// nudges every stream; Temporal is not taken for down, so another tenant's
// push right after is sent, not recorded; and a recorded nudge of every
// stream does not hold back another tenant's recorded behind it. The
// intake gave all the streams' round trips together its 1 s bound, one
// after another: the bound ran out mid-way, Temporal was marked down for
// every tenant and the nudge recorded; DeliverPending gave the recorded
// nudge 3 s, ran out again, and delivered nothing queued behind it.
func TestManyStreamsAreNudgedWithoutTakingTemporalDown(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	streams := streamNames(100)
	big := e.connectStreams("big", "big", streams)

	srv := testenv.Temporal(t)
	tc, err := client.Dial(client.Options{HostPort: srv.FrontendHostPort(), Namespace: "default", Logger: tlog.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	require.NoError(t, err)
	t.Cleanup(tc.Close)
	env := map[string]string{"POBLYSH_FAKE_CLIENT_ID": "id", "POBLYSH_FAKE_CLIENT_SECRET": "secret", "POBLYSH_FAKE_WEBHOOK_SECRET": secret}
	reg, err := connectors.Build(connectors.Registered(), func(k string) string { return env[k] }, "http://127.0.0.1:1", false)
	require.NoError(t, err)
	const queue = "many-streams"
	e.in.Nudger = &engine.Engine{Client: slowTemporal{Client: tc, delay: 40 * time.Millisecond}, DB: e.in.DB, Registry: reg, TaskQueue: queue, Log: e.in.Log}

	out, err := e.in.Receive(ctx, e.p, e.request(fakesandbox.Delivery{DeliveryID: "big-1", Account: "big", Notify: true}, true))
	require.NoError(t, err)
	require.Equal(t, Accepted, out.Status)
	require.False(t, e.in.down.down(), "Temporal answered every call: it is not taken for down")
	for _, row := range e.pendingRows() {
		require.Regexp(t, `^big/s\d{3}$`, row, "what the delivery's bound did not cover is recorded stream by stream")
	}

	out, err = e.in.Receive(ctx, e.p, e.request(fakesandbox.Delivery{DeliveryID: "other-1", Account: "other", Notify: true}, true))
	require.NoError(t, err)
	require.Equal(t, Accepted, out.Status)
	require.NotContains(t, e.pendingRows(), "c/", "another tenant's push is sent, not recorded")
	require.NotContains(t, e.pendingRows(), "c/items")

	e.deliverAll(3)
	// No worker runs the task queue: a stream's sync workflow exists only
	// if a nudge started it.
	for _, s := range streams {
		_, err := tc.DescribeWorkflow(ctx, workflows.SyncWorkflowID(queue, big.ID, s), "")
		require.NoError(t, err, "stream %s was nudged", s)
	}
	_, err = tc.DescribeWorkflow(ctx, workflows.SyncWorkflowID(queue, e.conns["c"].ID, "items"), "")
	require.NoError(t, err, "the other tenant's stream was nudged")

	// Recorded while Temporal was taken for down: the nudge of every
	// stream of the big connection, then another tenant's.
	e.in.down.mark()
	for i, account := range []string{"big", "other"} {
		_, err := e.in.Receive(ctx, e.p, e.request(fakesandbox.Delivery{DeliveryID: fmt.Sprint("down-", i), Account: account, Notify: true}, true))
		require.NoError(t, err)
	}
	require.Equal(t, []string{"big/", "c/"}, e.pendingRows())
	e.deliverAll(3)
	require.False(t, e.in.down.down(), "Temporal answered: pushes nudge directly again")
}

// slowStreams is Temporal answering every nudge at once but those of the
// streams in hang, which get no answer until their bound ends (a workflow
// Temporal is slow to take while it serves every other).
type slowStreams struct {
	p     *connectors.Provider
	mu    sync.Mutex
	hang  map[string]bool
	calls []string
}

func (s *slowStreams) Streams(c *db.Connection) ([]string, error) {
	return s.p.Connector.(connectors.Syncer).Streams(lifecycle.View(c))
}

func (s *slowStreams) NudgeStream(ctx context.Context, c *db.Connection, stream string, trigger poblysh.Trigger) error {
	s.mu.Lock()
	hang := s.hang[stream]
	s.mu.Unlock()
	if hang {
		<-ctx.Done()
		return poblysh.Unavailable("temporal", fmt.Errorf("nudge %s: %w", stream, ctx.Err()))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, fmt.Sprintf("%s %s", c.DisplayName, stream))
	return nil
}

func (s *slowStreams) sent() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := slices.Clone(s.calls)
	s.calls = nil
	slices.Sort(out)
	return out
}

// TestSlowStreamDoesNotTakeTemporalDown: one stream's nudge that finds no
// answer within its bound while Temporal answers the connection's others is
// recorded for that stream alone, and Temporal is not taken for down; a
// recorded nudge that again finds no answer is kept without holding back
// the nudges queued behind it. The slow stream used to mark Temporal down
// for every tenant and record the nudge of every stream of its
// connection, and DeliverPending stopped at it, oldest first, every round.
func TestSlowStreamDoesNotTakeTemporalDown(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	streams := streamNames(40)
	e.connectStreams("big", "big", streams)
	n := &slowStreams{p: e.p, hang: map[string]bool{"s000": true}}
	e.in.Nudger = n

	_, err := e.in.Receive(ctx, e.p, e.request(fakesandbox.Delivery{DeliveryID: "big-1", Account: "big", Notify: true}, true))
	require.NoError(t, err)
	require.False(t, e.in.down.down(), "Temporal answered the connection's other nudges")
	require.Equal(t, []string{"big/s000"}, e.pendingRows(), "the slow stream's nudge alone is recorded")
	var want []string
	for _, s := range streams[1:] {
		want = append(want, "big "+s)
	}
	require.Equal(t, want, n.sent(), "every other stream is nudged")

	_, err = e.in.Receive(ctx, e.p, e.request(fakesandbox.Delivery{DeliveryID: "other-1", Account: "other", Notify: true}, true))
	require.NoError(t, err)
	require.Equal(t, []string{"other items"}, n.sent(), "another tenant's push is sent, not recorded")

	// Another tenant's nudge, recorded behind the slow stream's.
	e.in.down.mark()
	_, err = e.in.Receive(ctx, e.p, e.request(fakesandbox.Delivery{DeliveryID: "other-2", Account: "other", Notify: true}, true))
	require.NoError(t, err)
	e.in.down.clear()
	require.Equal(t, []string{"big/s000", "c/"}, e.pendingRows())

	delivered, err := e.in.DeliverPending(ctx)
	require.NoError(t, err, "Temporal answered")
	require.Equal(t, 1, delivered)
	require.Equal(t, []string{"other items"}, n.sent(), "the nudge behind the slow one is sent")
	require.Equal(t, []string{"big/s000"}, e.pendingRows(), "the slow one is kept")
	require.False(t, e.in.down.down())

	n.mu.Lock()
	n.hang = nil
	n.mu.Unlock()
	delivered, err = e.in.DeliverPending(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, delivered)
	require.Equal(t, []string{"big s000"}, n.sent())
	require.Empty(t, e.pendingRows())
}
