// Package lifecycletest holds test doubles of the lifecycle's
// dependencies, for the tests of every package that builds a
// lifecycle.Service.
package lifecycletest

import (
	"context"

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

// RequestSyncs starts no job.
func (NoWorkflows) RequestSyncs(context.Context, []db.Connection, poblysh.SyncMode, poblysh.Trigger) ([]db.Job, error) {
	return nil, nil
}

// StopConnection does nothing.
func (NoWorkflows) StopConnection(context.Context, *db.Connection) error { return nil }
