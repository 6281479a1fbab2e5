package lifecycle_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/connectors/slack"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
	"github.com/poblysh/poblysh/lifecycle"
	"github.com/poblysh/poblysh/lifecycle/lifecycletest"
)

// pausingSlack is the Slack connector whose first RouteKeys call waits
// until released: an activation held in the middle of its route rebuild.
type pausingSlack struct {
	*slack.Connector
	first   atomic.Bool
	reached chan struct{}
	release chan struct{}
}

func (p *pausingSlack) RouteKeys(c connectors.Connection) ([]string, error) {
	if p.first.CompareAndSwap(false, true) {
		close(p.reached)
		<-p.release
	}
	return p.Connector.RouteKeys(c)
}

// noWorkflows is a Temporal with nothing to start or stop.
type noWorkflows = lifecycletest.NoWorkflows

// grantAll proves every configured Slack channel.
type grantAll struct{}

func (grantAll) Prove(_ context.Context, _ poblysh.ConnectionRef, cfg json.RawMessage, _ []string) (*connectors.AccessReport, error) {
	var c struct{ Channels []string }
	_ = json.Unmarshal(cfg, &c)
	r := &connectors.AccessReport{}
	for _, ch := range c.Channels {
		r.Granted = append(r.Granted, connectors.Resource{Ref: ch, ID: ch, RouteKeys: []string{"channel:" + ch}})
	}
	return r, nil
}
func (grantAll) Authorize(context.Context, poblysh.ConnectionRef) (*http.Client, *db.Tokens, error) {
	return nil, nil, nil
}

// slackActivation is a lifecycle service over one Slack connection
// (workspace T0001, every channel: its install key is routed).
type slackActivation struct {
	svc        *lifecycle.Service
	db         *db.DB
	tenant, id string
}

func newSlackActivation(t *testing.T, conn connectors.Connector) *slackActivation {
	t.Helper()
	s := dbtest.NewSchema(t)
	reg := connectors.NewRegistry(&connectors.Provider{Spec: slack.Spec, Connector: conn})
	log := logrus.New()
	log.SetLevel(logrus.ErrorLevel)
	a := &slackActivation{svc: &lifecycle.Service{DB: s.DB, Registry: reg, Workflows: noWorkflows{}, Access: grantAll{}, Log: log}, db: s.DB}
	a.tenant, a.id = dbtest.Seed(t, s.DB, "acme", "slack", "T0001")
	_, err := a.svc.Update(context.Background(), a.tenant, a.id, lifecycle.Update{Config: json.RawMessage(`{"channels":[]}`)})
	require.NoError(t, err)
	require.Equal(t, []string{"app:T0001", "team:T0001"}, a.routes(t))
	return a
}

func (a *slackActivation) routes(t *testing.T) []string {
	t.Helper()
	var keys []string
	require.NoError(t, a.db.WithSystem(context.Background(), func(tx *db.Tx) error {
		return tx.SelectContext(context.Background(), &keys, `SELECT route_key FROM webhook_routes WHERE connection_id = $1 ORDER BY route_key`, a.id)
	}))
	return keys
}

// An activation routes the connection as it is when it rebuilds the
// routes, not as it was when read: the activation sweep reads a marked
// connection, then activates it, and a PATCH that committed and activated
// in between had its routes overwritten with the old config's (a Slack
// connection narrowed to one channel routed the whole workspace again,
// and no mark was left to repair it). A connection deleted in between
// gets no routes back.
func TestActivateRoutesTheConnectionAsItIsNow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	base, err := slack.New(connectors.Config{})
	require.NoError(t, err)
	a := newSlackActivation(t, base)

	stale, err := a.svc.Find(ctx, a.tenant, a.id)
	require.NoError(t, err)
	_, err = a.svc.Update(ctx, a.tenant, a.id, lifecycle.Update{Config: json.RawMessage(`{"channels":["C0123456"]}`)})
	require.NoError(t, err)
	require.Equal(t, []string{"app:T0001", "channel:C0123456"}, a.routes(t))
	_, err = a.svc.Activate(ctx, stale, false, poblysh.TriggerManual)
	require.NoError(t, err)
	require.Equal(t, []string{"app:T0001", "channel:C0123456"}, a.routes(t),
		"the one configured channel, not the workspace of the config read before")

	stale, err = a.svc.Find(ctx, a.tenant, a.id)
	require.NoError(t, err)
	require.NoError(t, a.db.WithTenant(ctx, a.tenant, func(tx *db.Tx) error { return tx.DeleteConnection(ctx, a.id, false) }))
	require.Empty(t, a.routes(t))
	_, err = a.svc.Activate(ctx, stale, false, poblysh.TriggerManual)
	require.NoError(t, err)
	require.Empty(t, a.routes(t), "a deleted connection gets no routes")
}

// An activation holds the connection's row while it rebuilds the routes:
// a PATCH that changes the config meanwhile waits, and its own rebuild,
// coming last, routes its config. The activation sweep, held after it
// had read the connection, used to write the old config's routes over
// the PATCH's.
func TestActivationSweepRacingPatchKeepsItsRoutes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	base, err := slack.New(connectors.Config{})
	require.NoError(t, err)
	conn := &pausingSlack{Connector: base.(*slack.Connector), reached: make(chan struct{}), release: make(chan struct{})}
	conn.first.Store(true) // the set-up's activation is not held
	a := newSlackActivation(t, conn)
	conn.first.Store(false)

	require.NoError(t, a.db.WithTenant(ctx, a.tenant, func(tx *db.Tx) error {
		c, err := tx.FindConnection(ctx, a.id)
		if err != nil {
			return err
		}
		// An update stored while Temporal was down, over a minute ago.
		if err := tx.MarkActivation(ctx, c, db.ActivateSync); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE connections SET activation_pending_at = now() - interval '2 minutes' WHERE id = $1`, a.id)
		return err
	}))
	var due []poblysh.ConnectionRef
	require.NoError(t, a.db.WithSystem(ctx, func(tx *db.Tx) (err error) {
		due, err = tx.ActivationsDue(ctx, 25)
		return err
	}))
	require.Len(t, due, 1)

	swept := make(chan error, 1)
	go func() {
		_, err := a.svc.ActivatePending(ctx, due[0])
		swept <- err
	}()
	<-conn.reached // the sweep is rebuilding the routes of the config it read (channels: all)

	// The operator narrows the connection to one channel.
	patched := make(chan error, 1)
	go func() {
		_, err := a.svc.Update(ctx, a.tenant, a.id, lifecycle.Update{Config: json.RawMessage(`{"channels":["C0123456"]}`)})
		patched <- err
	}()
	// The sweep is released once the PATCH waits for it (or, without the
	// lock, once the PATCH has finished).
	sweepWaitedFor := func() bool {
		var n int
		require.NoError(t, a.db.WithSystem(ctx, func(tx *db.Tx) error {
			return tx.GetContext(ctx, &n, `SELECT count(*) FROM pg_locks WHERE NOT granted AND locktype = 'transactionid'
				AND transactionid = (SELECT xmax FROM connections WHERE id = $1)`, a.id)
		}))
		return n > 0
	}
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(20 * time.Second)
	var patchDone bool
	for waiting := false; !waiting && !patchDone; {
		select {
		case err := <-patched:
			require.NoError(t, err)
			patchDone = true
		case <-tick.C:
			waiting = sweepWaitedFor()
		case <-deadline:
			t.Fatal("the PATCH neither waited for the sweep nor finished")
		}
	}
	close(conn.release)
	for _, ch := range []chan error{swept, patched} {
		if ch == patched && patchDone {
			continue
		}
		select {
		case err := <-ch:
			require.NoError(t, err)
		case <-time.After(10 * time.Second):
			t.Fatal("the sweep or the PATCH did not finish")
		}
	}
	var pending *string
	require.NoError(t, a.db.WithSystem(ctx, func(tx *db.Tx) error {
		return tx.GetContext(ctx, &pending, `SELECT activation_pending FROM connections WHERE id = $1`, a.id)
	}))
	require.Nil(t, pending)
	require.Equal(t, []string{"app:T0001", "channel:C0123456"}, a.routes(t),
		"the connection routes only its one configured channel, not the whole workspace")
}

// failingSchedules is a Temporal that refuses the schedules of the
// connections in fail (an activation failing for a reason of its own).
type failingSchedules struct {
	noWorkflows
	fail map[string]bool
}

func (f failingSchedules) SyncSchedules(_ context.Context, _, id string) error {
	if f.fail[id] {
		return errors.New("refused")
	}
	return nil
}

// Activations that keep failing do not hold back the connections behind
// them: a failed one has its mark moved behind the others, so the sweep's
// next round (the oldest marks, a page at a time) lists the next. Here
// the two oldest of three marks fail, a page is two: the third is
// activated in the second round (without the move, never), and the two
// stay marked, behind it.
func TestFailingActivationsDoNotHoldBackOthers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	base, err := slack.New(connectors.Config{})
	require.NoError(t, err)
	reg := connectors.NewRegistry(&connectors.Provider{Spec: slack.Spec, Connector: base})
	log := logrus.New()
	log.SetLevel(logrus.PanicLevel)
	wf := failingSchedules{fail: map[string]bool{}}
	svc := &lifecycle.Service{DB: s.DB, Registry: reg, Workflows: wf, Access: grantAll{}, Log: log}
	var ids []string
	for i := range 3 {
		tenant, id := dbtest.Seed(t, s.DB, fmt.Sprint("t", i), "slack", fmt.Sprintf("T000%d", i))
		require.NoError(t, s.DB.WithTenant(ctx, tenant, func(tx *db.Tx) error {
			c, err := tx.FindConnection(ctx, id)
			if err != nil {
				return err
			}
			if err := tx.MarkActivation(ctx, c, db.ActivateApply); err != nil {
				return err
			}
			// Marked 10, 9 and 8 minutes ago: past the grace, oldest first.
			_, err = tx.ExecContext(ctx, `UPDATE connections SET activation_pending_at = now() - make_interval(mins => 10 - $2) WHERE id = $1`, id, i)
			return err
		}))
		ids = append(ids, id)
	}
	wf.fail[ids[0]], wf.fail[ids[1]] = true, true
	const page = 2
	activated := -1
	for round := 0; round < 3 && activated < 0; round++ {
		var due []poblysh.ConnectionRef
		require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) (err error) {
			due, err = tx.ActivationsDue(ctx, page)
			return err
		}))
		for _, ref := range due {
			done, err := svc.ActivatePending(ctx, ref)
			if ref.ConnectionID == ids[2] {
				require.NoError(t, err)
				require.True(t, done)
				activated = round
			} else {
				require.EqualError(t, err, "refused")
				require.False(t, done)
			}
		}
	}
	require.Equal(t, 1, activated, "the connection behind two failing activations is activated in the second round")
	var pending []string
	require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) error {
		return tx.SelectContext(ctx, &pending, `SELECT id FROM connections WHERE activation_pending IS NOT NULL
			AND activation_pending_at > now() - interval '1 minute' ORDER BY id`)
	}))
	want := []string{ids[0], ids[1]}
	sort.Strings(want)
	require.Equal(t, want, pending, "the failed ones stay marked, moved behind")
}
