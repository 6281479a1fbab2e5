package main

import (
	"context"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/enums/v1"

	"github.com/poblysh/poblysh/gen/models"
	"github.com/poblysh/poblysh/workflows"
)

// attrs reads a Signal's attributes.
func attrs(s *models.Signal) map[string]any {
	a, _ := s.Payload.Attributes.(map[string]any)
	return a
}

// idle waits until the sync workflows of the run's connection are at rest.
// A push arriving while a pass runs or lingers waits for a quiet period
// with it (coalescing), and a follow-up pass of earlier pushes would read
// a change meant for the incremental sync the row asks for next.
func (r *providerRun) idle(streams ...string) {
	r.t.Helper()
	for _, stream := range streams {
		eventually(r.t, 30*time.Second, stream+" at rest", func() bool {
			d, err := r.s.temporal.Client().DescribeWorkflow(context.Background(), workflows.SyncWorkflowID(r.s.taskQueue, r.id, stream), "")
			require.NoError(r.t, err)
			return d.Status != enums.WORKFLOW_EXECUTION_STATUS_RUNNING
		})
	}
}
