package activities

import (
	"context"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/lifecycle"
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
// streams' requests became, and the connections skipped because their
// streams could not be listed (their configs; each is logged).
type ProviderSyncsResult struct {
	Connections int
	Jobs        int
	Skipped     int `json:",omitempty"`
}

// providerSyncsProgress is RequestProviderSyncs' heartbeat: where the
// next attempt goes on (Done: nothing is left; an empty After alone is
// the first connection), and what the attempts before it counted.
type providerSyncsProgress struct {
	After string
	Done  bool
	ProviderSyncsResult
}

// providerSyncsBeat is how often, at most, RequestProviderSyncs heartbeats
// between its progress reports, as a share of its heartbeat timeout.
const providerSyncsBeat = 3

// RequestProviderSyncs asks every stream of the tenant's active
// connections of the provider after in.After for a manual pass
// (lifecycle.Service.SyncFrom, a page of connections at a time). It
// records in its heartbeat the cursor of the last connection it finished
// (one whose streams, and every connection's before it, were answered): a
// retry (Temporal unreachable for a while, a worker gone) goes on from
// there, so only the connections in flight are asked again (a stream
// asked twice joins its queued pass, or queues one follow-up).
//
// It also heartbeats that cursor on a ticker, a third of its heartbeat
// timeout apart, while nothing finishes: one connection of many streams,
// or a page whose streams Temporal answers slowly (about 70 ms each on a
// dev server, 63 s for 100 connections of 9 streams), outlived the
// 1-minute heartbeat timeout when only a finished page heartbeated; the
// attempt timed out and its retry asked the same page again, up to 20
// times, and never the connections after it.
func (a *Activities) RequestProviderSyncs(ctx context.Context, in ProviderSyncsInput) (ProviderSyncsResult, error) {
	if a.Connections == nil {
		return ProviderSyncsResult{}, temporal.NewNonRetryableApplicationError("the worker has no connection lifecycle", ErrTypeInvalidConfig, nil)
	}
	p := progressOf(ctx, providerSyncsProgress{After: in.After})
	if p.Done {
		// The attempt before asked the last page; its completion was lost.
		return p.ProviderSyncsResult, nil
	}
	// mu guards p between SyncFrom's reports and the ticker.
	var mu sync.Mutex
	heartbeat := func() {
		if activity.IsActivity(ctx) {
			activity.RecordHeartbeat(ctx, p)
		}
	}
	if activity.IsActivity(ctx) {
		if every := activity.GetInfo(ctx).HeartbeatTimeout / providerSyncsBeat; every > 0 {
			tick := time.NewTicker(every)
			stop := make(chan struct{})
			done := make(chan struct{})
			go func() {
				defer close(done)
				for {
					select {
					case <-tick.C:
						mu.Lock()
						heartbeat()
						mu.Unlock()
					case <-stop:
						return
					}
				}
			}()
			defer func() { tick.Stop(); close(stop); <-done }()
		}
	}
	err := a.Connections.SyncFrom(ctx, in.TenantID, in.Provider, in.Mode, p.After, func(sp lifecycle.SyncProgress) {
		mu.Lock()
		defer mu.Unlock()
		p.After, p.Done = sp.After, sp.Done
		p.Connections += sp.Connections
		p.Jobs += sp.Jobs
		p.Skipped += sp.Skipped
		heartbeat()
	})
	mu.Lock()
	defer mu.Unlock()
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
