// Package lifecycletest holds test doubles of the lifecycle's
// dependencies, for the tests of every package that builds a
// lifecycle.Service.
package lifecycletest

import (
	"context"
	"time"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/db"
)

// NoWorkflows is a lifecycle.Workflows (a Temporal) that does what it is
// asked and nothing more: nothing to start or stop, every call answered
// nil.
type NoWorkflows struct{}

// SyncSchedules does nothing.
func (NoWorkflows) SyncSchedules(context.Context, string, string) error { return nil }

// StartWatchReconcile does nothing.
func (NoWorkflows) StartWatchReconcile(context.Context, poblysh.ConnectionRef, poblysh.Trigger) error {
	return nil
}

// RequestSync starts no job.
func (NoWorkflows) RequestSync(context.Context, *db.Connection, poblysh.SyncMode, poblysh.Trigger) ([]db.Job, error) {
	return nil, nil
}

// RequestSyncsUntil starts no job, and has asked every connection.
func (NoWorkflows) RequestSyncsUntil(_ context.Context, conns []db.Connection, _ poblysh.SyncMode, _ poblysh.Trigger, _ time.Time, progress func(asked, jobs int)) ([]db.Job, int, error) {
	if progress != nil && len(conns) > 0 {
		progress(len(conns), 0)
	}
	return nil, len(conns), nil
}

// StartProviderSync starts nothing.
func (NoWorkflows) StartProviderSync(context.Context, string, string, poblysh.SyncMode, string) error {
	return nil
}

// StopConnection does nothing.
func (NoWorkflows) StopConnection(context.Context, *db.Connection) error { return nil }
