package db_test

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
)

// EnsureJob of a job already stored makes a queued incremental job a
// backfill (a backfill request joined the queued follow-up), and changes
// nothing else: a queued backfill stays one (requests answered out of the
// workflow's order), and a running or final job keeps the kind it ran as.
func TestEnsureJobMakesAQueuedFollowUpABackfill(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	tenantID, connID := dbtest.Seed(t, s.DB, "ensure", "fake", "acct")
	for _, tc := range []struct {
		name       string
		stored     poblysh.JobKind
		status     poblysh.JobStatus
		ensured    poblysh.JobKind
		want       poblysh.JobKind
		wantStatus poblysh.JobStatus
	}{
		{"queued incremental joined by a backfill", poblysh.JobIncremental, poblysh.JobQueued, poblysh.JobBackfill, poblysh.JobBackfill, poblysh.JobQueued},
		{"queued backfill joined by an incremental", poblysh.JobBackfill, poblysh.JobQueued, poblysh.JobIncremental, poblysh.JobBackfill, poblysh.JobQueued},
		{"running incremental", poblysh.JobIncremental, poblysh.JobRunning, poblysh.JobBackfill, poblysh.JobIncremental, poblysh.JobRunning},
		{"finished incremental", poblysh.JobIncremental, poblysh.JobSucceeded, poblysh.JobBackfill, poblysh.JobIncremental, poblysh.JobSucceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.NoError(t, s.DB.WithTenant(ctx, tenantID, func(tx *db.Tx) error {
				j := db.Job{ID: uuid.NewString(), ConnectionID: connID, Provider: "fake", Kind: tc.stored, Stream: "items",
					Trigger: poblysh.TriggerManual, Status: tc.status, WorkflowID: "wf-ensure"}
				_, err := tx.EnsureJob(ctx, j)
				require.NoError(t, err)
				j.Kind, j.Status = tc.ensured, poblysh.JobQueued
				got, err := tx.EnsureJob(ctx, j)
				require.NoError(t, err)
				require.Equal(t, tc.want, got.Kind)
				require.Equal(t, tc.wantStatus, got.Status)
				require.Equal(t, poblysh.TriggerManual, got.Trigger)
				return nil
			}))
		})
	}
}
