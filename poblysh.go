// Package poblysh holds the domain vocabulary shared by every layer of the
// Poblysh Connectors service: job kinds and statuses, connection health, sync
// modes and triggers, the domain error codes, and the embedded API spec.
//
// Adapters (api, db, activities, workflows, engine) depend on this package;
// it depends on nothing but the standard library.
package poblysh

// SyncMode says where a sync pass starts.
type SyncMode string

const (
	// ModeBackfill clears the stream's cursor and reads its history from the start.
	ModeBackfill SyncMode = "backfill"
	// ModeIncremental continues from the stream's stored cursor.
	ModeIncremental SyncMode = "incremental"
)

// Valid reports whether m is a known mode.
func (m SyncMode) Valid() bool { return m == ModeBackfill || m == ModeIncremental }

// Trigger says what asked for a job.
type Trigger string

// Triggers.
const (
	TriggerConnect  Trigger = "connect"  // first backfill after OAuth
	TriggerManual   Trigger = "manual"   // POST /sync/{provider}
	TriggerWebhook  Trigger = "webhook"  // a notify-only push
	TriggerSchedule Trigger = "schedule" // polling or sweeper schedule
	TriggerResync   Trigger = "resync"   // cursor expired at the provider
)

// JobKind names the workflow behind a job.
type JobKind string

// Job kinds.
const (
	JobBackfill     JobKind = "backfill"
	JobIncremental  JobKind = "incremental"
	JobTokenRefresh JobKind = "token_refresh"
	JobWatchRenewal JobKind = "watch_renewal"
)

// JobKindFor maps a sync mode to its job kind.
func JobKindFor(m SyncMode) JobKind {
	if m == ModeBackfill {
		return JobBackfill
	}
	return JobIncremental
}

// JobStatus is the durable state of a job.
type JobStatus string

// Job statuses. Queued, running and waiting are open; the others are final.
const (
	JobQueued    JobStatus = "queued"
	JobRunning   JobStatus = "running"
	JobSucceeded JobStatus = "succeeded"
	JobFailed    JobStatus = "failed"
	JobCancelled JobStatus = "cancelled"
)

// Final reports whether s is a terminal status.
func (s JobStatus) Final() bool {
	return s == JobSucceeded || s == JobFailed || s == JobCancelled
}

// Health is a connection's state machine:
// healthy → degraded (transient failures) → needs_reauth (grant revoked or
// refresh failed permanently); disabled is set by an operator.
type Health string

// Health states.
const (
	HealthHealthy     Health = "healthy"
	HealthDegraded    Health = "degraded"
	HealthNeedsReauth Health = "needs_reauth"
	HealthDisabled    Health = "disabled"
)

// Valid reports whether h is a known health state.
func (h Health) Valid() bool {
	switch h {
	case HealthHealthy, HealthDegraded, HealthNeedsReauth, HealthDisabled:
		return true
	}
	return false
}

// Schedulable reports whether scheduled work (polling, refresh, renewal)
// should run for a connection in this state.
func (h Health) Schedulable() bool { return h == HealthHealthy || h == HealthDegraded }
