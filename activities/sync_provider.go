package activities

import (
	"context"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/poblysh/poblysh"
)

// ProviderSyncsInput is the rest of a sync of every connection of a
// provider (workflows.SyncProviderInput): the connections after After.
type ProviderSyncsInput struct {
	TenantID string
	Provider string
	Mode     poblysh.SyncMode
	After    string `json:",omitempty"`
}

// ProviderSyncsResult counts the connections asked and the jobs their
// streams' requests became.
type ProviderSyncsResult struct {
	Connections int
	Jobs        int
}

// providerSyncsProgress is RequestProviderSyncs' heartbeat: where the
// next attempt goes on (Done: nothing is left; an empty After alone is
// the first connection), and what the attempts before it counted.
type providerSyncsProgress struct {
	After string
	Done  bool
	ProviderSyncsResult
}

// RequestProviderSyncs asks every stream of the tenant's active
// connections of the provider after in.After for a manual pass
// (lifecycle.Service.SyncFrom, a page of connections at a time). It
// records in its heartbeat the cursor after each page it finished: a retry
// (Temporal unreachable for a while, a worker gone) goes on from there, so
// only the page that failed is asked again (a stream asked twice joins
// its queued pass, or queues one follow-up).
func (a *Activities) RequestProviderSyncs(ctx context.Context, in ProviderSyncsInput) (ProviderSyncsResult, error) {
	if a.Connections == nil {
		return ProviderSyncsResult{}, temporal.NewNonRetryableApplicationError("the worker has no connection lifecycle", ErrTypeInvalidConfig, nil)
	}
	p := progressOf(ctx, providerSyncsProgress{After: in.After})
	if p.Done {
		// The attempt before asked the last page; its completion was lost.
		return p.ProviderSyncsResult, nil
	}
	err := a.Connections.SyncFrom(ctx, in.TenantID, in.Provider, in.Mode, p.After, func(next string, conns, jobs int) {
		p.After, p.Done = next, next == ""
		p.Connections += conns
		p.Jobs += jobs
		if activity.IsActivity(ctx) {
			activity.RecordHeartbeat(ctx, p)
		}
	})
	return p.ProviderSyncsResult, a.translate(ctx, poblysh.ConnectionRef{TenantID: in.TenantID}, err)
}

// progressOf is the progress the attempt before recorded, or start.
func progressOf(ctx context.Context, start providerSyncsProgress) providerSyncsProgress {
	if !activity.IsActivity(ctx) || !activity.HasHeartbeatDetails(ctx) {
		return start
	}
	var p providerSyncsProgress
	if err := activity.GetHeartbeatDetails(ctx, &p); err != nil {
		return start
	}
	return p
}
