// Package poblysh holds the domain vocabulary shared by every layer of the
// Poblysh Connectors service: job kinds and statuses, connection health and
// its state machine (health.go), sync modes and triggers, the reference to a
// connection, the domain error codes, and the embedded API spec.
//
// The service's packages depend on this one;
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
	// JobTenantDeletion is an operator's job: a tenant's deletion.
	JobTenantDeletion JobKind = "tenant_deletion"
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

// ConnectionRef names one connection, and optionally one of its streams:
// what workflows, activities, schedules and sweeps pass around. Its field
// names are its JSON names in recorded workflow histories; keep them.
type ConnectionRef struct {
	TenantID     string
	ConnectionID string
	Provider     string
	// Stream is set for work on one stream (a sync pass), "" otherwise.
	Stream string `json:",omitempty"`
}

// Connection is the ref without its stream.
func (r ConnectionRef) Connection() ConnectionRef {
	r.Stream = ""
	return r
}
