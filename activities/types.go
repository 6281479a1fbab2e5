// Package activities holds the Temporal activities: methods on Activities,
// a struct carrying their dependencies, each with one input and one result
// struct. Activities do all I/O (Postgres, provider APIs) and translate
// provider-neutral errors into Temporal retry semantics; workflows only
// orchestrate them.
package activities

import (
	"time"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/db"
)

// Error types activities fail with (temporal.ApplicationError.Type()).
const (
	ErrTypeRateLimited        = "RateLimited"
	ErrTypeTransient          = "Transient"
	ErrTypeUnauthorized       = "Unauthorized"
	ErrTypeForbidden          = "Forbidden"
	ErrTypeNotFound           = "NotFound"
	ErrTypeInvalidConfig      = "InvalidConfig"
	ErrTypeCursorExpired      = "CursorExpired"
	ErrTypeConnectionInactive = "ConnectionInactive"
	ErrTypeTenantBusy         = "TenantBusy"
)

// NonRetryable lists the error types no retry can fix.
var NonRetryable = []string{ErrTypeUnauthorized, ErrTypeForbidden, ErrTypeNotFound, ErrTypeInvalidConfig, ErrTypeCursorExpired, ErrTypeConnectionInactive}

// Target names one stream of one connection.
type Target struct {
	TenantID     string
	ConnectionID string
	Provider     string
	Stream       string
}

// BeginJobInput starts (or resumes) a job.
type BeginJobInput struct {
	Target
	JobID      string
	Kind       poblysh.JobKind
	Trigger    poblysh.Trigger
	WorkflowID string
	RunID      string
	// ResetCursor clears the stream cursor first (a backfill's first page).
	ResetCursor bool
}

// BeginJobResult is empty; it exists so fields can be added.
type BeginJobResult struct{}

// SyncPageInput asks for one page of a stream.
type SyncPageInput struct {
	Target
	JobID string
	RunID string
}

// SyncPageResult is small on purpose: workflow history never carries pages.
type SyncPageResult struct {
	Items      int
	Stored     int
	Duplicates int
	Done       bool
}

// ResetCursorInput clears a stream's cursor.
type ResetCursorInput struct{ Target }

// ResetCursorResult is empty.
type ResetCursorResult struct{}

// FinishJobInput ends a job.
type FinishJobInput struct {
	Target
	JobID  string
	Status poblysh.JobStatus
	// Error is the last failure's message; ErrorType its type.
	Error     string
	ErrorType string
	Context   map[string]any
	// Synced marks a completed sync pass (last sync time, health healed).
	Synced bool
}

// FinishJobResult is empty.
type FinishJobResult struct{}

// RefreshInput refreshes one connection's token.
type RefreshInput struct {
	TenantID     string
	ConnectionID string
	Provider     string
	// Force refreshes even when the token is not about to expire.
	Force bool
}

// RefreshResult reports a refresh.
type RefreshResult struct {
	Refreshed bool
	ExpiresAt *time.Time
}

// ListDueInput pages a sweep.
type ListDueInput struct {
	Limit int
}

// ListDueResult lists connections due for work.
type ListDueResult struct {
	Connections []db.DueConnection
}

// StartManyInput starts per-connection workflows for a sweep.
type StartManyInput struct {
	Connections []db.DueConnection
}

// StartManyResult counts started workflows.
type StartManyResult struct {
	Started int
}

// ConnectionInput names one connection.
type ConnectionInput struct {
	TenantID     string
	ConnectionID string
	Provider     string
}

// TriggerResult reports a poll.
type TriggerResult struct {
	Streams int
	Skipped bool
}

// WatchResult reports a watch reconciliation.
type WatchResult struct {
	Created, Stopped, Active int
	PushEnabled              bool
	// WatchError says why channels could not be registered (the connection
	// then polls); "" when registration worked or was not attempted.
	WatchError string
}

// PruneInput is empty; retention settings come from configuration.
type PruneInput struct{}

// PruneResult reports a retention pass.
type PruneResult struct {
	db.Pruned
}
