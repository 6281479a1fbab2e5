package activities

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
	"github.com/poblysh/poblysh/lifecycle"
)

// syncsAsked is a Temporal that records the connections whose syncs it
// was asked for, and answers a job per connection.
type syncsAsked struct {
	noWorkflows
	mu    sync.Mutex
	conns []string
}

func (s *syncsAsked) RequestSyncsUntil(_ context.Context, conns []db.Connection, _ poblysh.SyncMode, _ poblysh.Trigger, _ time.Time, progress func(asked, jobs int)) ([]db.Job, int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	jobs := make([]db.Job, len(conns))
	for i, c := range conns {
		s.conns = append(s.conns, c.ID)
		progress(i+1, i+1)
	}
	return jobs, len(conns), nil
}

// wide is a provider with nothing to sync (SyncFrom needs its spec).
type wide struct{ spec *connectors.Spec }

func (w wide) Spec() *connectors.Spec { return w.spec }

// RequestProviderSyncs goes on from its heartbeat: an attempt after one
// that recorded a cursor asks only the connections after it, and one
// after the attempt that asked the last page asks nothing again (its
// cursor "" would otherwise read as "from the first connection").
func TestRequestProviderSyncsGoesOnFromItsHeartbeat(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	schema := dbtest.NewSchema(t)
	tenant, _ := dbtest.Seed(t, schema.DB, "wide", "wide", "acct-0")
	require.NoError(t, schema.DB.WithTenant(ctx, tenant, func(tx *db.Tx) error {
		for i := 1; i < 5; i++ {
			if _, _, err := tx.UpsertConnection(ctx, db.ConnectionUpsert{Provider: "wide", ExternalAccountID: fmt.Sprintf("acct-%d", i)}); err != nil {
				return err
			}
		}
		return nil
	}))
	var all []db.Connection
	require.NoError(t, schema.DB.WithTenant(ctx, tenant, func(tx *db.Tx) (err error) {
		all, err = tx.ListProviderConnections(ctx, "wide")
		return err
	}))
	after, err := db.ConnectionCursor(&all[2])
	require.NoError(t, err)
	in := ProviderSyncsInput{TenantID: tenant, Provider: "wide", Mode: poblysh.ModeIncremental}

	for _, tc := range []struct {
		name  string
		hb    *providerSyncsProgress
		asked []string
		res   ProviderSyncsResult
	}{
		{"first attempt", nil, []string{all[0].ID, all[1].ID, all[2].ID, all[3].ID, all[4].ID}, ProviderSyncsResult{Connections: 5, Jobs: 5}},
		{"after a page", &providerSyncsProgress{After: after, ProviderSyncsResult: ProviderSyncsResult{Connections: 3, Jobs: 3}},
			[]string{all[3].ID, all[4].ID}, ProviderSyncsResult{Connections: 5, Jobs: 5}},
		{"after the last page", &providerSyncsProgress{Done: true, ProviderSyncsResult: ProviderSyncsResult{Connections: 5, Jobs: 5}},
			nil, ProviderSyncsResult{Connections: 5, Jobs: 5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := &syncsAsked{}
			reg := connectors.NewRegistry(&connectors.Provider{Spec: &connectors.Spec{Name: "wide"}, Connector: wide{&connectors.Spec{Name: "wide"}}})
			acts := &Activities{DB: schema.DB, Connections: &lifecycle.Service{DB: schema.DB, Registry: reg, Workflows: w}}
			env := (&testsuite.WorkflowTestSuite{}).NewTestActivityEnvironment()
			env.RegisterActivity(acts)
			if tc.hb != nil {
				env.SetHeartbeatDetails(*tc.hb)
			}
			v, err := env.ExecuteActivity(acts.RequestProviderSyncs, in)
			require.NoError(t, err)
			var res ProviderSyncsResult
			require.NoError(t, v.Get(&res))
			require.Equal(t, tc.res, res)
			require.Equal(t, tc.asked, w.conns)
		})
	}
}
