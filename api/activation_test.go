package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/activities"
	"github.com/poblysh/poblysh/db"
)

// activationSweep runs the worker's activation sweep once, as its
// workflow does (list, then activate), after the markers have aged past
// the grace the sweep leaves the request that set them: each call is a
// later sweep (they run every 5 minutes), so a mark an earlier call moved
// behind the others (a failed activation) is due again, as it would be.
func (e *apiEnv) activationSweep() activities.StartManyResult {
	e.t.Helper()
	ctx := context.Background()
	e.exec(`UPDATE connections SET activation_pending_at = activation_pending_at - interval '2 minutes' WHERE activation_pending IS NOT NULL`)
	acts := &activities.Activities{DB: e.schema.DB, Registry: e.connections.Registry, Connections: e.connections}
	due, err := acts.ListPendingActivations(ctx, activities.ListDueInput{Limit: 25})
	require.NoError(e.t, err)
	if len(due.Connections) == 0 {
		return activities.StartManyResult{}
	}
	res, err := acts.ActivatePending(ctx, activities.StartManyInput{Connections: due.Connections})
	require.NoError(e.t, err)
	return res
}

// exec runs a statement in the system scope.
func (e *apiEnv) exec(q string, args ...any) {
	e.t.Helper()
	require.NoError(e.t, e.schema.DB.WithSystem(context.Background(), func(tx *db.Tx) error {
		_, err := tx.ExecContext(context.Background(), q, args...)
		return err
	}))
}

// A callback that has stored the connection answers success even when
// Temporal cannot be reached to activate it: the grant is spent and the
// connection (its tokens, routes and, for Slack, the workspace claim)
// exists. It answered 503 "Nothing was connected" and the connection, never
// activated, got no schedule and no backfill, ever. Now it is marked in
// the store's transaction, and the worker's activation sweep does what the
// callback could not once Temporal answers.
func TestConnectWithTemporalDownIsActivatedLater(t *testing.T) {
	t.Parallel()
	e, _, _ := sandboxed(t)
	_, key := e.tenant("Acme")
	e.temporal.setDown(true)

	r := e.connect(key)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	var out struct{ Connection struct{ ID string } }
	require.NoError(t, json.Unmarshal(r.body, &out))
	id := out.Connection.ID
	require.Equal(t, 1, e.count(`SELECT count(*) FROM connections WHERE id = $1 AND activation_pending = 'backfill'`, id))
	require.Equal(t, []string{"schedules " + id}, e.temporal.take(), "tried, and refused")
	require.Contains(t, e.logs.String(), "activation sweep")

	// Still down: the sweep leaves the mark for a later round, moved
	// behind the others (marked anew: the helper had aged it 2 minutes).
	require.Equal(t, 0, e.activationSweep().Started)
	require.Equal(t, 1, e.count(`SELECT count(*) FROM connections WHERE id = $1 AND activation_pending = 'backfill'
		AND activation_pending_at > now() - interval '1 minute'`, id))
	e.temporal.take()

	e.temporal.setDown(false)
	require.Equal(t, 1, e.activationSweep().Started)
	require.Equal(t, []string{"schedules " + id, "watch " + id + " connect", "sync " + id + " backfill connect"}, e.temporal.take())
	require.Zero(t, e.count(`SELECT count(*) FROM connections WHERE activation_pending IS NOT NULL OR activation_pending_at IS NOT NULL`))
	require.Equal(t, 0, e.activationSweep().Started, "nothing is left to activate")
	require.Empty(t, e.temporal.take())

	// Activated at once when Temporal answers: no mark is left behind.
	_, key2 := e.tenant("Globex")
	second := e.connected(key2)
	require.Contains(t, e.temporal.take(), "sync "+second+" backfill connect")
	require.Zero(t, e.count(`SELECT count(*) FROM connections WHERE activation_pending IS NOT NULL`))
}

// PATCH stores the change before asking Temporal to apply it. With
// Temporal down it answered 503 though the change was committed, and the
// schedule, watch channels and catch-up of the stored state never
// followed. It answers 200 with the stored connection, and the sweep
// applies it when Temporal is back.
func TestUpdateWithTemporalDownIsAppliedLater(t *testing.T) {
	t.Parallel()
	e, _, _ := sandboxed(t)
	_, key := e.tenant("Acme")
	id := e.connected(key)
	r := e.do(http.MethodPatch, "/api/v1/connections/"+id, key, "application/json", `{"paused": true}`)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	e.temporal.take()

	e.temporal.setDown(true)
	r = e.do(http.MethodPatch, "/api/v1/connections/"+id, key, "application/json", `{"paused": false}`)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	require.Contains(t, string(r.body), `"paused":false`)
	require.Equal(t, 1, e.count(`SELECT count(*) FROM connections WHERE id = $1 AND NOT paused AND activation_pending = 'sync'`, id))
	// A later change while the first waits keeps what the first needs.
	r = e.do(http.MethodPatch, "/api/v1/connections/"+id, key, "application/json", `{"poll_interval_seconds": 600}`)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	require.Equal(t, 1, e.count(`SELECT count(*) FROM connections WHERE id = $1 AND activation_pending = 'sync'`, id))
	e.temporal.take()

	e.temporal.setDown(false)
	require.Equal(t, 1, e.activationSweep().Started)
	require.Equal(t, []string{"schedules " + id, "watch " + id + " manual", "sync " + id + " incremental manual"}, e.temporal.take())
	require.Zero(t, e.count(`SELECT count(*) FROM connections WHERE activation_pending IS NOT NULL`))
}
