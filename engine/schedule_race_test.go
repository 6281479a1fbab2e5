package engine

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
	"github.com/poblysh/poblysh/lifecycle"
	"github.com/poblysh/poblysh/testenv"
	"github.com/poblysh/poblysh/workflows"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// TestSyncSchedulesConvergesWhenHealthChangesMidway: a call that read the
// connection while it was healthy (a watch reconcile) applies "unpaused"
// after a failed refresh has moved the connection to needs_reauth and
// paused the schedule. The stale call must notice and pause again; CI
// once saw a needs_reauth connection with a running schedule.
func TestSyncSchedulesConvergesWhenHealthChangesMidway(t *testing.T) {
	ctx := context.Background()
	srv := testenv.Temporal(t)
	s := dbtest.NewSchema(t)
	tenant, conn := dbtest.Seed(t, s.DB, "race", "fake", "acct")
	e := &Engine{Client: srv.Client(), DB: s.DB, Registry: connectors.NewRegistry(), TaskQueue: "race-" + s.Name, Namespace: "default", Log: logrus.New()}
	t.Cleanup(func() { _ = e.DeleteSchedules(context.Background(), conn) })
	paused := func() bool {
		d, err := srv.Client().ScheduleClient().GetHandle(ctx, workflows.PollScheduleID(e.TaskQueue, conn)).Describe(ctx)
		require.NoError(t, err)
		return d.Schedule.State.Paused
	}
	require.NoError(t, e.SyncSchedules(ctx, tenant, conn))
	require.False(t, paused(), "a healthy connection polls")

	// The stale call has applied "unpaused"; before it reads again, the
	// refresh fails for good and its own call pauses the schedule.
	moved := false
	e.afterApply = func() {
		if moved {
			return
		}
		moved = true
		require.NoError(t, s.DB.WithTenant(ctx, tenant, func(tx *db.Tx) error {
			_, _, err := tx.ApplyHealth(ctx, conn, poblysh.HealthEvent{Kind: poblysh.EventRefreshFailed, Detail: "revoked"})
			return err
		}))
	}
	require.NoError(t, e.SyncSchedules(ctx, tenant, conn))
	require.True(t, moved)
	require.Eventually(t, paused, 10*time.Second, 100*time.Millisecond, "needs_reauth pauses the schedule, whichever call applies last")

	// And back: re-authorized, the next call unpauses.
	e.afterApply = nil
	require.NoError(t, s.DB.WithTenant(ctx, tenant, func(tx *db.Tx) error {
		_, _, err := tx.ApplyHealth(ctx, conn, poblysh.HealthEvent{Kind: poblysh.EventReauthorized})
		return err
	}))
	require.NoError(t, e.SyncSchedules(ctx, tenant, conn))
	require.Eventually(t, func() bool { return !paused() }, 10*time.Second, 100*time.Millisecond, "re-authorized, it polls again")
}

// revokingConnector runs during while the provider answers the token
// revocation of a delete (a second or so at a real provider).
type revokingConnector struct {
	spec   *connectors.Spec
	during func()
}

func (c *revokingConnector) Spec() *connectors.Spec { return c.spec }
func (c *revokingConnector) Revoke(context.Context, connectors.Account, *oauth2.Token) error {
	if c.during != nil {
		c.during()
	}
	return nil
}

// TestScheduleDoesNotOutliveItsDeletedConnection: a delete removes the
// polling schedule first and marks the row deleted seconds later (provider
// calls in between). A schedule sync in that window (a PATCH, a watch
// pass, a health move) read the connection live and made the schedule
// again, which then fired for the deleted connection for ever.
func TestScheduleDoesNotOutliveItsDeletedConnection(t *testing.T) {
	ctx := context.Background()
	srv := testenv.Temporal(t)
	s := dbtest.NewSchema(t)
	kr := dbtest.KeyRing(t)
	spec := &connectors.Spec{Name: "revoking"}
	spec.Policy.PollInterval = time.Hour
	rc := &revokingConnector{spec: spec}
	reg := connectors.NewRegistry(&connectors.Provider{Spec: spec, Connector: rc})
	tenant, conn := dbtest.Seed(t, s.DB, "orphan", "revoking", "acct")
	require.NoError(t, s.DB.WithTenant(ctx, tenant, func(tx *db.Tx) error {
		return tx.SaveTokens(ctx, kr, conn, db.Tokens{AccessToken: "a", TokenType: "Bearer"})
	}))
	e := &Engine{Client: srv.Client(), DB: s.DB, Registry: reg, TaskQueue: "orphan-" + s.Name, Namespace: "default", Log: logrus.New()}
	t.Cleanup(func() { _ = e.DeleteSchedules(context.Background(), conn) })
	svc := &lifecycle.Service{DB: s.DB, Registry: reg, KeyRing: kr, Workflows: e}
	require.NoError(t, e.SyncSchedules(ctx, tenant, conn))
	schedule := srv.Client().ScheduleClient().GetHandle(ctx, workflows.PollScheduleID(e.TaskQueue, conn))
	_, err := schedule.Describe(ctx)
	require.NoError(t, err, "the live connection's schedule")

	rc.during = func() { require.NoError(t, e.SyncSchedules(ctx, tenant, conn)) }
	_, err = svc.Delete(ctx, tenant, conn, false)
	require.NoError(t, err)
	_, err = schedule.Describe(ctx)
	require.Error(t, err, "a deleted connection has no polling schedule")
}

// TestTenantDeletionAskedAgainStartsAWorkflowThatNeverStarted: the mark
// and its queued job commit, then the process dies before it starts the
// deletion's workflow. Asking again answered that job and started nothing
// (the sweep skips a job whose workflow Temporal does not know), so the
// tenant stayed hidden, its keys revoked, for ever.
func TestTenantDeletionAskedAgainStartsAWorkflowThatNeverStarted(t *testing.T) {
	ctx := context.Background()
	srv := testenv.Temporal(t)
	s := dbtest.NewSchema(t)
	tenant, _ := dbtest.Seed(t, s.DB, "crashdel", "fake", "acct")
	e := &Engine{Client: srv.Client(), DB: s.DB, Registry: connectors.NewRegistry(), TaskQueue: "crashdel-" + s.Name, Namespace: "default", Log: logrus.New()}
	id := workflows.TenantDeletionWorkflowID(e.TaskQueue, tenant)
	const first = "11111111-1111-4111-8111-111111111111"
	require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) error {
		_, _, err := tx.BeginTenantDeletion(ctx, tenant, first, id)
		return err
	}))
	job, _, err := e.DeleteTenant(ctx, tenant)
	require.NoError(t, err)
	require.Equal(t, first, job.ID, "the same job")
	d, err := srv.Client().DescribeWorkflow(ctx, id, "")
	require.NoError(t, err, "asking again started the deletion")
	require.Equal(t, job.RunID, d.WorkflowExecution.RunID)

	again, _, err := e.DeleteTenant(ctx, tenant)
	require.NoError(t, err)
	require.Equal(t, first, again.ID)
	require.Equal(t, job.RunID, again.RunID, "a third ask joins the running deletion")
	_ = srv.Client().TerminateWorkflow(ctx, id, "", "test over")
}

// TestSweepSettlesJobsOfUnknownWorkflows: an open job whose workflow
// Temporal does not know (never started, past retention, persistence
// lost) is settled failed, saying so; such jobs were left open, stayed the
// oldest, and 500 of them (one sweep's batch) kept every other job from
// being settled.
func TestSweepSettlesJobsOfUnknownWorkflows(t *testing.T) {
	ctx := context.Background()
	srv := testenv.Temporal(t)
	s := dbtest.NewSchema(t)
	tenant, conn := dbtest.Seed(t, s.DB, "sweep", "fake", "acct")
	e := &Engine{Client: srv.Client(), DB: s.DB, Registry: connectors.NewRegistry(), TaskQueue: "sweep-" + s.Name, Namespace: "default", Log: logrus.New()}
	var gone string
	require.NoError(t, s.DB.WithTenant(ctx, tenant, func(tx *db.Tx) error {
		return tx.GetContext(ctx, &gone, `INSERT INTO jobs (id, tenant_id, connection_id, provider, kind, stream, trigger, status, workflow_id, run_id, updated_at)
			VALUES (gen_random_uuid(), $1, $2, 'fake', 'incremental', 'items', 'schedule', 'running', $3, '', now() - interval '1 hour') RETURNING id`,
			tenant, conn, e.TaskQueue+":sync/"+conn+"/gone")
	}))
	n, err := e.SweepJobs(ctx, 2*time.Minute)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	var status, msg string
	require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) error {
		return tx.QueryRowxContext(ctx, `SELECT status, error FROM jobs WHERE id = $1`, gone).Scan(&status, &msg)
	}))
	require.Equal(t, "failed", status)
	require.Contains(t, msg, "unknown to Temporal")
}

// stubConnector is a provider with a spec and nothing else.
type stubConnector struct{ spec *connectors.Spec }

func (c stubConnector) Spec() *connectors.Spec { return c.spec }

// A connection's schedule note (what `temporal schedule describe` shows,
// the runbook's check) says the interval the schedule runs at: after an
// update as after its creation, and while it is paused, with why. It kept
// the creation's interval ("every 5m0s" under a 6 h spec).
func TestScheduleNoteFollowsTheSchedule(t *testing.T) {
	ctx := context.Background()
	srv := testenv.Temporal(t)
	s := dbtest.NewSchema(t)
	tenant, conn := dbtest.Seed(t, s.DB, "note", "fake", "acct")
	spec := &connectors.Spec{Name: "fake", Policy: connectors.Policy{PollInterval: 5 * time.Minute}}
	e := &Engine{Client: srv.Client(), DB: s.DB, Registry: connectors.NewRegistry(&connectors.Provider{Spec: spec, Connector: stubConnector{spec}}),
		TaskQueue: "note-" + s.Name, Namespace: "default", Log: logrus.New()}
	t.Cleanup(func() { _ = e.DeleteSchedules(context.Background(), conn) })
	describe := func() (time.Duration, string, bool) {
		d, err := srv.Client().ScheduleClient().GetHandle(ctx, workflows.PollScheduleID(e.TaskQueue, conn)).Describe(ctx)
		require.NoError(t, err)
		return d.Schedule.Spec.Intervals[0].Every, d.Schedule.State.Note, d.Schedule.State.Paused
	}
	health := func(kind poblysh.HealthEventKind) {
		require.NoError(t, s.DB.WithTenant(ctx, tenant, func(tx *db.Tx) error {
			_, _, err := tx.ApplyHealth(ctx, conn, poblysh.HealthEvent{Kind: kind, Detail: "test"})
			return err
		}))
	}
	want := func(every string) string { return "incremental sync of fake connection " + conn + " every " + every }

	require.NoError(t, e.SyncSchedules(ctx, tenant, conn))
	every, note, paused := describe()
	require.Equal(t, 5*time.Minute, every)
	require.Equal(t, want("5m0s"), note)
	require.False(t, paused)

	require.NoError(t, s.DB.WithTenant(ctx, tenant, func(tx *db.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE connections SET poll_interval_seconds = 21600 WHERE id = $1`, conn)
		return err
	}))
	require.NoError(t, e.SyncSchedules(ctx, tenant, conn))
	every, note, _ = describe()
	require.Equal(t, 6*time.Hour, every)
	require.Equal(t, want("6h0m0s"), note, "the note says the interval of the update")

	health(poblysh.EventRefreshFailed)
	require.NoError(t, e.SyncSchedules(ctx, tenant, conn))
	_, note, paused = describe()
	require.True(t, paused)
	require.Equal(t, want("6h0m0s")+"; paused: connection inactive", note)

	health(poblysh.EventReauthorized)
	require.NoError(t, e.SyncSchedules(ctx, tenant, conn))
	_, note, paused = describe()
	require.False(t, paused)
	require.Equal(t, want("6h0m0s"), note)
}
