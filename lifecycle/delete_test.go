package lifecycle_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/sirupsen/logrus"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/connectors/slack"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
	"github.com/poblysh/poblysh/lifecycle"
)

// scheduled keeps each connection's polling schedule and watch manager as
// engine.Engine does: SyncSchedules makes the schedule match the row (a
// live connection has one, a deleted one none), StartWatchReconcile starts
// the manager, and StopConnection removes both, then calls onStop (where
// a test makes Temporal fail, or the client hang up).
type scheduled struct {
	noWorkflows
	db       *db.DB
	mu       sync.Mutex
	schedule map[string]bool
	watching map[string]bool
	onStop   func() error
}

func newScheduled(d *db.DB) *scheduled {
	return &scheduled{db: d, schedule: map[string]bool{}, watching: map[string]bool{}}
}

func (w *scheduled) SyncSchedules(ctx context.Context, tenantID, connID string) error {
	err := w.db.WithTenant(ctx, tenantID, func(tx *db.Tx) error { _, err := tx.FindConnection(ctx, connID); return err })
	if err != nil && poblysh.ErrorCode(err) != poblysh.ENOTFOUND {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.schedule[connID] = err == nil
	return nil
}

func (w *scheduled) StartWatchReconcile(_ context.Context, ref poblysh.ConnectionRef, _ poblysh.Trigger) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.watching[ref.ConnectionID] = true
	return nil
}

func (w *scheduled) StopConnection(context.Context, *db.Connection) error {
	w.mu.Lock()
	w.schedule = map[string]bool{}
	w.watching = map[string]bool{}
	w.mu.Unlock()
	if w.onStop != nil {
		return w.onStop()
	}
	return nil
}

func (w *scheduled) has(id string) (schedule, watching bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.schedule[id], w.watching[id]
}

// deleteFixture is an activated Slack connection (every channel, no
// revocation endpoint) whose Temporal side scheduled records.
func deleteFixture(t *testing.T) (*lifecycle.Service, *scheduled, *dbtest.Schema, string, string) {
	t.Helper()
	s := dbtest.NewSchema(t)
	base, err := slack.New(connectors.Config{})
	require.NoError(t, err)
	log := logrus.New()
	log.SetLevel(logrus.ErrorLevel)
	wf := newScheduled(s.DB)
	svc := &lifecycle.Service{DB: s.DB, Registry: connectors.NewRegistry(&connectors.Provider{Spec: slack.Spec, Connector: base}),
		Workflows: wf, Access: grantAll{}, Log: log, KeyRing: dbtest.KeyRing(t)}
	tenant, id := dbtest.Seed(t, s.DB, "acme", "slack", "T0001")
	require.NoError(t, s.DB.WithTenant(context.Background(), tenant, func(tx *db.Tx) error {
		return tx.SaveTokens(context.Background(), svc.KeyRing, id, db.Tokens{AccessToken: "xoxb-1", TokenType: "Bearer"})
	}))
	_, err = svc.Update(context.Background(), tenant, id, lifecycle.Update{Config: json.RawMessage(`{"channels":[]}`)})
	require.NoError(t, err)
	schedule, watching := wf.has(id)
	require.True(t, schedule && watching, "activated: polling schedule and watch manager")
	return svc, wf, s, tenant, id
}

// A client that hangs up during a DELETE does not stop it half-way: the
// delete finishes on its own clock. (Every step after the schedules were
// deleted ran on the request's context: the delete failed, answered
// nothing, and left the connection live and active, its routes storing
// deliveries, with no polling schedule or watch manager and nothing that
// would make them again.)
func TestDeleteFinishesWhenTheClientHangsUp(t *testing.T) {
	t.Parallel()
	svc, wf, s, tenant, id := deleteFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	wf.onStop = func() error { cancel(); return nil }

	_, err := svc.Delete(ctx, tenant, id, false)
	require.NoError(t, err)
	_, err = svc.Find(context.Background(), tenant, id)
	require.Equal(t, poblysh.ENOTFOUND, poblysh.ErrorCode(err), "the connection is deleted")
	var routes int
	require.NoError(t, s.DB.WithSystem(context.Background(), func(tx *db.Tx) error {
		return tx.GetContext(context.Background(), &routes, `SELECT count(*) FROM webhook_routes WHERE connection_id = $1`, id)
	}))
	require.Zero(t, routes)
	schedule, _ := wf.has(id)
	require.False(t, schedule)
}

// refuseDeletes makes the database refuse every soft delete of a
// connection in s (DeleteConnection fails, as on a lost database).
func refuseDeletes(t *testing.T, s *dbtest.Schema) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, s.OwnerURL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `CREATE FUNCTION refuse_delete() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN RAISE EXCEPTION 'the database is going away'; END $$;
		CREATE TRIGGER refuse_delete BEFORE UPDATE OF deleted_at ON connections
			FOR EACH ROW WHEN (OLD.deleted_at IS NULL AND NEW.deleted_at IS NOT NULL) EXECUTE FUNCTION refuse_delete()`)
	require.NoError(t, err)
}

// A delete that fails once StopConnection has removed the connection's
// schedules and workflows (Temporal failing half-way, the row's delete
// failing after the provider side was torn down) leaves the connection
// live, unmarked and marked for activation, so that the activation sweep
// makes its polling schedule and watch manager again. (The failed delete
// took back its disconnecting mark only, or, when the row's delete
// failed, not even that: the live, active connection polled no more, and
// nothing listed it.)
func TestFailedDeleteIsActivatedAgain(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		fail func(*scheduled, *dbtest.Schema)
	}{
		{"temporal fails half-way", func(wf *scheduled, _ *dbtest.Schema) {
			wf.onStop = func() error { return poblysh.Unavailable("temporal", errors.New("connection refused")) }
		}},
		{"the row's delete fails", func(_ *scheduled, s *dbtest.Schema) { refuseDeletes(t, s) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			svc, wf, s, tenant, id := deleteFixture(t)
			tc.fail(wf, s)

			_, err := svc.Delete(ctx, tenant, id, false)
			require.Error(t, err)
			c, err := svc.Find(ctx, tenant, id)
			require.NoError(t, err, "the connection lives on")
			require.True(t, c.Active())
			require.Equal(t, db.ActivateApply, c.ActivationPending, "marked for the activation sweep")
			var leased bool
			require.NoError(t, s.DB.WithTenant(ctx, tenant, func(tx *db.Tx) (err error) {
				leased, err = tx.TakeWatchLease(ctx, id, time.Now().Add(time.Minute))
				return err
			}))
			require.True(t, leased, "the delete's mark was taken back: its watch passes run")

			// The activation sweep lists it once the mark's grace has passed.
			require.NoError(t, s.DB.WithTenant(ctx, tenant, func(tx *db.Tx) error {
				_, err := tx.ExecContext(ctx, `UPDATE connections SET activation_pending_at = now() - interval '2 minutes' WHERE id = $1`, id)
				return err
			}))
			var due []poblysh.ConnectionRef
			require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) (err error) {
				due, err = tx.ActivationsDue(ctx, 25)
				return err
			}))
			require.Equal(t, []poblysh.ConnectionRef{{TenantID: tenant, ConnectionID: id, Provider: "slack"}}, due)
			activated, err := svc.ActivatePending(ctx, due[0])
			require.NoError(t, err)
			require.True(t, activated)
			schedule, watching := wf.has(id)
			require.True(t, schedule, "its polling schedule is back")
			require.True(t, watching, "its watch manager is back")
		})
	}
}

// A delete abandoned half-way (its process ended once the connection's
// schedules were deleted, before its row was: a deploy's shutdown timeout
// shorter than the delete, a crash) leaves a live connection that the
// activation sweep lists once the delete's mark is no longer heeded, and
// makes whole again. (The mark alone was left: the connection stayed live
// and routed with no polling schedule or watch manager, and no sweep
// listed it.) A delete that finishes leaves no activation owed.
func TestAbandonedDeleteIsActivatedAgain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc, wf, s, tenant, id := deleteFixture(t)
	c, err := svc.Find(ctx, tenant, id)
	require.NoError(t, err)
	require.NoError(t, s.DB.WithTenant(ctx, tenant, func(tx *db.Tx) error {
		_, _, err := tx.MarkDisconnecting(ctx, id)
		return err
	}))
	require.NoError(t, wf.StopConnection(ctx, c)) // then the process ended
	schedule, watching := wf.has(id)
	require.False(t, schedule || watching)

	due := func() []poblysh.ConnectionRef {
		var out []poblysh.ConnectionRef
		require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) (err error) {
			out, err = tx.ActivationsDue(ctx, 25)
			return err
		}))
		return out
	}
	age := func(by string) {
		require.NoError(t, s.DB.WithTenant(ctx, tenant, func(tx *db.Tx) error {
			_, err := tx.ExecContext(ctx, `UPDATE connections SET disconnecting_at = disconnecting_at - $2::interval,
				activation_pending_at = activation_pending_at - $2::interval WHERE id = $1`, id, by)
			return err
		}))
	}
	age("2 minutes")
	require.Empty(t, due(), "not while the delete's mark is heeded")
	age("9 minutes")
	require.Equal(t, []poblysh.ConnectionRef{{TenantID: tenant, ConnectionID: id, Provider: "slack"}}, due())
	activated, err := svc.ActivatePending(ctx, due()[0])
	require.NoError(t, err)
	require.True(t, activated)
	schedule, watching = wf.has(id)
	require.True(t, schedule, "its polling schedule is back")
	require.True(t, watching, "its watch manager is back")

	_, err = svc.Delete(ctx, tenant, id, false)
	require.NoError(t, err)
	age("11 minutes")
	require.Empty(t, due(), "a delete that finished owes nothing")
}
