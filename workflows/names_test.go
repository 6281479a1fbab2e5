package workflows_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/workflows"
)

// Every workflow and schedule id the service uses starts with the task
// queue and a colon, so stacks sharing a Temporal server never address each
// other's workflows; ids of two queues never collide.
func TestEveryIDCarriesTheQueue(t *testing.T) {
	t.Parallel()
	ids := func(q string) []string {
		return []string{
			workflows.SyncWorkflowID(q, "c1", "items"), workflows.RefreshWorkflowID(q, "c1"), workflows.WatchWorkflowID(q, "c1"),
			workflows.PollScheduleID(q, "c1"), workflows.PollRunID(q, "c1"), workflows.TenantDeletionWorkflowID(q, "t1"),
			workflows.SyncProviderWorkflowID(q, "t1", "github", "r1"),
			workflows.RefreshScheduleID(q), workflows.RenewalScheduleID(q), workflows.RetentionScheduleID(q), workflows.ActivationScheduleID(q),
		}
	}
	a, b := ids("connectors-aaaa"), ids("connectors-bbbb")
	seen := map[string]bool{}
	for i := range a {
		require.True(t, strings.HasPrefix(a[i], "connectors-aaaa:"), a[i])
		require.True(t, strings.HasPrefix(b[i], "connectors-bbbb:"), b[i])
		require.NotEqual(t, a[i], b[i])
		require.False(t, seen[a[i]], "ids are distinct: %s", a[i])
		seen[a[i]] = true
	}
	require.True(t, workflows.IsSyncWorkflowID(workflows.SyncWorkflowID("q", "c", "s")))
	require.False(t, workflows.IsSyncWorkflowID(workflows.WatchWorkflowID("q", "c")))
}
