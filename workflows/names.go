// Package workflows holds the deterministic orchestration: per-stream sync
// passes with coalesced triggers, token refresh, polling, watch-channel
// renewal and retention. Workflows do no I/O; they call activities through a
// nil *activities.Activities so references are type-checked, take one input
// struct, and return one result struct.
package workflows

import (
	"github.com/poblysh/poblysh/activities"
)

// Workflow type names (stable: recorded histories depend on them).
const (
	SyncStreamName     = "SyncStream"
	RefreshTokenName   = "RefreshToken"
	RefreshSweepName   = "RefreshSweep"
	PollConnectionName = "PollConnection"
	ReconcileWatchName = "ReconcileWatches"
	RenewalSweepName   = "RenewalSweep"
	RetentionName      = "Retention"
)

// Signal, update and query names.
const (
	SignalRequest = "sync-request"
	UpdateRequest = "request-sync"
	QueryProgress = "progress"
	SignalWatch   = "reconcile"
)

// Schedule ids of the process-wide schedules, per task queue (one
// deployment = one task queue).
func RefreshScheduleID(taskQueue string) string { return taskQueue + ":token-refresh-sweep" }

// RenewalScheduleID is the watch-renewal sweeper's schedule.
func RenewalScheduleID(taskQueue string) string { return taskQueue + ":watch-renewal-sweep" }

// RetentionScheduleID is the retention schedule.
func RetentionScheduleID(taskQueue string) string { return taskQueue + ":retention" }

// SyncWorkflowID is deterministic per connection and stream, so every
// trigger for a stream lands on one writer.
func SyncWorkflowID(connID, stream string) string { return "sync/" + connID + "/" + stream }

// RefreshWorkflowID is the single refresher of a connection.
func RefreshWorkflowID(connID string) string { return "token-refresh/" + connID }

// WatchWorkflowID is the single watch-channel manager of a connection.
func WatchWorkflowID(connID string) string { return "watch/" + connID }

// PollScheduleID is a connection's polling schedule.
func PollScheduleID(connID string) string { return "poll/" + connID }

// a is the nil receiver activity references go through.
var a *activities.Activities
