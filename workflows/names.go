// Package workflows holds the deterministic orchestration: per-stream sync
// passes with coalesced triggers, token refresh, polling, watch-channel
// renewal and retention. Workflows do no I/O; they call activities through a
// nil *activities.Activities so references are type-checked, take one input
// struct, and return one result struct.
package workflows

import (
	"strings"

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
	// ActivationSweepName: the connections Temporal could not activate.
	ActivationSweepName = "ActivationSweep"
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

// ActivationScheduleID is the activation sweep's schedule.
func ActivationScheduleID(taskQueue string) string { return taskQueue + ":activation-sweep" }

// RetentionScheduleID is the retention schedule.
func RetentionScheduleID(taskQueue string) string { return taskQueue + ":retention" }

// Every workflow and schedule id starts with the task queue and a colon
// ("connectors-1a2b3c4d:sync/…"): stacks that share a Temporal server (each
// with its own queue and database) then never address each other's
// workflows, and TestEveryIDCarriesTheQueue holds every id to it.

// SyncWorkflowID is deterministic per connection and stream, so every
// trigger for a stream lands on one writer.
func SyncWorkflowID(taskQueue, connID, stream string) string {
	return taskQueue + ":sync/" + connID + "/" + stream
}

// IsSyncWorkflowID reports whether id is a stream's sync workflow.
func IsSyncWorkflowID(id string) bool { return strings.Contains(id, ":sync/") }

// RefreshWorkflowID is the single refresher of a connection.
func RefreshWorkflowID(taskQueue, connID string) string {
	return taskQueue + ":token-refresh/" + connID
}

// WatchWorkflowID is the single watch-channel manager of a connection.
func WatchWorkflowID(taskQueue, connID string) string { return taskQueue + ":watch/" + connID }

// PollScheduleID is a connection's polling schedule.
func PollScheduleID(taskQueue, connID string) string { return taskQueue + ":poll/" + connID }

// PollRunID is the workflow id of the runs a connection's polling schedule
// starts (Temporal appends the scheduled time).
func PollRunID(taskQueue, connID string) string { return taskQueue + ":poll-run/" + connID }

// a is the nil receiver activity references go through.
var a *activities.Activities
