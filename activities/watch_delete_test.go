package activities

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
	"github.com/poblysh/poblysh/lifecycle"
)

// deletedWhileWatching registers its channel at the provider while the
// connection is deleted from another request (onWatch), then answers.
type deletedWhileWatching struct {
	*hookConnector
	onWatch func()
}

func (c *deletedWhileWatching) Watch(ctx context.Context, req connectors.WatchRequest) ([]connectors.Channel, error) {
	if f := c.onWatch; f != nil {
		c.onWatch = nil
		f()
	}
	return c.hookConnector.Watch(ctx, req)
}

// A channel a watch pass registers at the provider while its connection is
// deleted is stopped by the delete, with the token the delete then
// revokes: the delete waits for the pass to store what it made. (The
// delete listed the channels while the provider call was in flight, and
// the hook it then made stayed at the provider, delivering, with nothing
// left here that could stop it.) A pass that begins once the delete has
// begun registers nothing.
func TestChannelMadeDuringADeleteIsStopped(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	schema := dbtest.NewSchema(t)
	kr := dbtest.KeyRing(t)
	spec := &connectors.Spec{Name: "hooked"}
	conn := &deletedWhileWatching{hookConnector: &hookConnector{spec: spec, schema: schema}}
	acts := watchActivities(schema, kr, spec, conn)
	tenant, connID := seedWithToken(t, schema, kr, "hooks", "hooked")
	svc := &lifecycle.Service{DB: schema.DB, Registry: acts.Registry, KeyRing: kr, Workflows: noWorkflows{}}
	in := ReconcileWatchesInput{ConnectionRef: poblysh.ConnectionRef{TenantID: tenant, ConnectionID: connID, Provider: "hooked"}}

	deleted := make(chan error, 1)
	conn.onWatch = func() {
		go func() {
			_, err := svc.Delete(ctx, tenant, connID, false)
			deleted <- err
		}()
		time.Sleep(300 * time.Millisecond) // the provider is slow to answer
	}
	_, err := acts.ReconcileWatches(ctx, in)
	require.NoError(t, err, "the pass that began before the delete ends normally")
	require.NoError(t, <-deleted)
	require.Equal(t, []string{"hook-1"}, conn.stopped, "the delete stopped the hook made while it ran")
	var active int
	require.NoError(t, schema.DB.WithSystem(ctx, func(tx *db.Tx) error {
		return tx.GetContext(ctx, &active, `SELECT count(*) FROM watch_channels WHERE connection_id = $1 AND stopped_at IS NULL`, connID)
	}))
	require.Zero(t, active)

	// A connection being deleted gets no new channel: the mark comes first.
	tenant2, conn2 := seedWithToken(t, schema, kr, "hooks2", "hooked")
	require.NoError(t, schema.DB.WithTenant(ctx, tenant2, func(tx *db.Tx) error {
		_, _, err := tx.MarkDisconnecting(ctx, conn2)
		return err
	}))
	_, err = acts.ReconcileWatches(ctx, ReconcileWatchesInput{ConnectionRef: poblysh.ConnectionRef{TenantID: tenant2, ConnectionID: conn2, Provider: "hooked"}})
	require.Error(t, err)
	require.True(t, isType(err, ErrTypeConnectionInactive), "%v", err)
	require.Equal(t, 1, conn.created, "nothing registered for the connection being deleted")
}

// deadlineConnector: the provider makes the channel, and the activity's
// context ends as its answer arrives (StartToClose, cancellation).
type deadlineConnector struct {
	*hookConnector
	cancel context.CancelFunc
}

func (c *deadlineConnector) Watch(ctx context.Context, req connectors.WatchRequest) ([]connectors.Channel, error) {
	out, err := c.hookConnector.Watch(ctx, req)
	if c.cancel != nil {
		c.cancel()
		c.cancel = nil
	}
	return out, err
}

// A channel the provider made is stored even when the pass's context ends
// as the provider answers (its deadline, a cancellation). The store ran on
// that context and failed, the channel was neither recorded nor stopped,
// and the retry made another: the first kept delivering (Google channels
// up to a week, Jira webhooks 30 days) with nothing here to stop it.
func TestChannelMadeAsThePassEndsIsKept(t *testing.T) {
	t.Parallel()
	schema := dbtest.NewSchema(t)
	kr := dbtest.KeyRing(t)
	spec := &connectors.Spec{Name: "hooked"}
	conn := &deadlineConnector{hookConnector: &hookConnector{spec: spec, schema: schema}}
	acts := watchActivities(schema, kr, spec, conn)
	tenant, connID := seedWithToken(t, schema, kr, "hooks", "hooked")
	ref := poblysh.ConnectionRef{TenantID: tenant, ConnectionID: connID, Provider: "hooked"}

	ctx, cancel := context.WithCancel(context.Background())
	conn.cancel = cancel
	_, _ = acts.ReconcileWatches(ctx, ReconcileWatchesInput{ConnectionRef: ref}) // what follows the store may fail
	var stored int
	require.NoError(t, schema.DB.WithSystem(context.Background(), func(tx *db.Tx) error {
		return tx.GetContext(context.Background(), &stored, `SELECT count(*) FROM watch_channels WHERE channel_id = 'hook-1' AND stopped_at IS NULL`)
	}))
	require.Equal(t, 1, stored, "the channel the provider made is stored")

	res, err := acts.ReconcileWatches(context.Background(), ReconcileWatchesInput{ConnectionRef: ref})
	require.NoError(t, err)
	require.Zero(t, res.Created, "the stored channel is used")
	require.Equal(t, 1, conn.created, "one channel at the provider")
}

// GitHub's Watch reuses the hook it finds on the repository (same id).
type reusingHook struct{ *hookConnector }

func (reusingHook) DeliveryChannel(*connectors.WebhookRequest) (string, bool) { return "", false }
func (c reusingHook) Watch(_ context.Context, req connectors.WatchRequest) ([]connectors.Channel, error) {
	c.created++
	return []connectors.Channel{{ID: "hook-0", Target: "board", RouteKey: "rk-0", Secret: "fresh-secret"}}, nil
}

// A stale channel the provider answers with again (GitHub's Watch reuses
// the repository's hook, with a new secret and events) is kept: the stop
// loop worked from the channels read before the pass, saw the hook stale,
// and deleted it at the provider right after storing it.
func TestReusedChannelIsNotStopped(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	schema := dbtest.NewSchema(t)
	kr := dbtest.KeyRing(t)
	spec := &connectors.Spec{Name: "hooked"}
	conn := reusingHook{&hookConnector{spec: spec, schema: schema}}
	acts := watchActivities(schema, kr, spec, conn)
	tenant, connID := seedWithToken(t, schema, kr, "hooks", "hooked")
	require.NoError(t, schema.DB.WithTenant(ctx, tenant, func(tx *db.Tx) error {
		return tx.InsertWatchChannel(ctx, kr, db.WatchChannel{ConnectionID: connID, Provider: "hooked", ChannelID: "hook-0",
			Target: "board", RouteKey: "rk-0"}) // made before channels had secrets
	}))
	res, err := acts.ReconcileWatches(ctx, ReconcileWatchesInput{ConnectionRef: poblysh.ConnectionRef{
		TenantID: tenant, ConnectionID: connID, Provider: "hooked"}})
	require.NoError(t, err)
	var active int
	require.NoError(t, schema.DB.WithSystem(ctx, func(tx *db.Tx) error {
		return tx.GetContext(ctx, &active, `SELECT count(*) FROM watch_channels WHERE connection_id = $1 AND stopped_at IS NULL`, connID)
	}))
	require.Empty(t, conn.stopped, "the hook just reused is not deleted at the provider")
	require.Equal(t, 1, res.Created)
	require.Zero(t, res.Stopped)
	require.Equal(t, 1, active)
	require.True(t, res.PushEnabled)
}

// madeAtTheDeadline makes its channel and answers it with the context's
// error, as a Watch over several targets does when the activity's deadline
// passes mid-way; during runs in between (a delete from another request).
type madeAtTheDeadline struct {
	*hookConnector
	during func()
}

func (c *madeAtTheDeadline) Watch(ctx context.Context, req connectors.WatchRequest) ([]connectors.Channel, error) {
	out, _ := c.hookConnector.Watch(ctx, req)
	if f := c.during; f != nil {
		c.during = nil
		f()
	}
	return out, context.DeadlineExceeded
}

// A channel stored after the pass's deadline (the store outlives it, see
// TestChannelMadeAsThePassEndsIsKept) is still covered by the pass's lease:
// a delete that begins after the deadline waits for it and stops the
// channel. (The lease ended at the deadline, so the delete listed nothing
// new and the hook stayed at the provider.)
func TestLeaseCoversTheStoreAfterTheDeadline(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	schema := dbtest.NewSchema(t)
	kr := dbtest.KeyRing(t)
	spec := &connectors.Spec{Name: "hooked"}
	conn := &madeAtTheDeadline{hookConnector: &hookConnector{spec: spec, schema: schema}}
	acts := watchActivities(schema, kr, spec, conn)
	// Outside an activity the pass's deadline is two minutes on: now it is
	// 200 ms away.
	acts.Now = func() time.Time { return time.Now().Add(-2*time.Minute + 200*time.Millisecond) }
	tenant, connID := seedWithToken(t, schema, kr, "hooks", "hooked")
	svc := &lifecycle.Service{DB: schema.DB, Registry: acts.Registry, KeyRing: kr, Workflows: noWorkflows{}}
	deleted := make(chan error, 1)
	conn.during = func() {
		time.Sleep(400 * time.Millisecond) // the deadline passes
		go func() {
			_, err := svc.Delete(ctx, tenant, connID, false)
			deleted <- err
		}()
		time.Sleep(300 * time.Millisecond)
	}
	_, _ = acts.ReconcileWatches(ctx, ReconcileWatchesInput{ConnectionRef: poblysh.ConnectionRef{TenantID: tenant, ConnectionID: connID, Provider: "hooked"}})
	require.NoError(t, <-deleted)
	require.Equal(t, []string{"hook-1"}, conn.stopped, "the delete stopped the channel stored after the deadline")
}

// temporalDown is a lifecycle.Workflows whose Temporal is unreachable.
type temporalDown struct{ noWorkflows }

func (temporalDown) StopConnection(context.Context, *db.Connection) error {
	return poblysh.Unavailable("temporal", errors.New("connection refused"))
}

// A delete that fails takes its mark back: the connection lives on, and
// its watch passes run. (The mark stayed for ten minutes: watch passes of
// the live connection were refused as "deleted", and it did not count as
// holding its Google grant for another connection's delete.)
func TestFailedDeleteTakesItsMarkBack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	schema := dbtest.NewSchema(t)
	kr := dbtest.KeyRing(t)
	spec := &connectors.Spec{Name: "hooked"}
	conn := &hookConnector{spec: spec, schema: schema}
	acts := watchActivities(schema, kr, spec, conn)
	tenant, connID := seedWithToken(t, schema, kr, "hooks", "hooked")
	svc := &lifecycle.Service{DB: schema.DB, Registry: acts.Registry, KeyRing: kr, Workflows: temporalDown{}}
	_, err := svc.Delete(ctx, tenant, connID, false)
	require.Equal(t, poblysh.EUNAVAILABLE, poblysh.ErrorCode(err))

	res, err := acts.ReconcileWatches(ctx, ReconcileWatchesInput{ConnectionRef: poblysh.ConnectionRef{TenantID: tenant, ConnectionID: connID, Provider: "hooked"}})
	require.NoError(t, err, "the live connection's watch pass runs")
	require.Equal(t, 1, res.Created)
}

// A push channel's expiry more than maxChannelLife ahead (no provider
// grants longer; a provider answering year 10000 or garbage) is stored as
// that long, flagged, so the channel is renewed in time; a zero expiry is
// none, and one within the life is kept.
func TestChannelExpiryPastAnyChannelsLifeIsCapped(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	at, capped := channelExpiry(time.Time{}, now)
	require.Nil(t, at)
	require.False(t, capped)
	week := now.Add(7 * 24 * time.Hour)
	at, capped = channelExpiry(week, now)
	require.Equal(t, week, *at)
	require.False(t, capped)
	for _, far := range []time.Time{now.Add(maxChannelLife + time.Hour), time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC)} {
		at, capped = channelExpiry(far, now)
		require.True(t, capped, "%v", far)
		require.Equal(t, now.Add(maxChannelLife), *at)
	}
}
