package connectors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// Resource is one thing a connection's config names and reads: a
// repository, a channel, a calendar, a project, a folder. A tenant can type
// any name into a config, so a resource is routed only after the
// connection's own token has read it (AccessProver).
type Resource struct {
	// Ref is how the config names it ("octo-org/hello-world", "C05GENERAL",
	// "primary"). Streams and watch channels name their resource by Ref.
	Ref string `json:"ref"`
	// ID is the provider's stable id of the resource ("1296269"); it does
	// not change when the resource is renamed or transferred.
	ID string `json:"id,omitempty"`
	// Name is its current name at the provider (after a rename it differs
	// from Ref).
	Name string `json:"name,omitempty"`
	// RouteKeys are the keys deliveries about the resource carry
	// ("repo:1296269"). Empty when deliveries reach the connection through
	// its own watch channels only (Google Calendar).
	RouteKeys []string `json:"route_keys,omitempty"`
}

// Denial is a resource the connection's token could not read.
type Denial struct {
	Ref string
	// Reason is a short client-safe explanation ("not found or not visible
	// to the connected account").
	Reason string
	// Err is ErrNotFound or ErrForbidden, wrapped with context.
	Err error
}

// AccessReport is the outcome of proving a connection's resources: every
// resource asked about is either granted or denied.
type AccessReport struct {
	Granted []Resource
	Denied  []Denial
}

// DeniedRefs lists the refs of the denied resources.
func (r *AccessReport) DeniedRefs() []string {
	out := make([]string, 0, len(r.Denied))
	for _, d := range r.Denied {
		out = append(out, d.Ref)
	}
	return out
}

// Error describes the denials in one client-safe sentence, "" when none.
func (r *AccessReport) Error() string {
	if len(r.Denied) == 0 {
		return ""
	}
	parts := make([]string, 0, len(r.Denied))
	for _, d := range r.Denied {
		parts = append(parts, d.Ref+": "+d.Reason)
	}
	return "the connected account cannot read " + strings.Join(parts, "; ")
}

// AccessRequest asks an AccessProver about a connection's resources.
type AccessRequest struct {
	Connection Connection
	// HTTP is authorized with the connection's own token.
	HTTP *http.Client
	// Only restricts the proof to these refs; empty proves every resource
	// the config names.
	Only []string
}

// Requested reports whether ref is among the resources the request asks
// about (Only; empty: every one).
func (r AccessRequest) Requested(ref string) bool {
	return len(r.Only) == 0 || slices.Contains(r.Only, ref)
}

// AccessProver is implemented by every connector whose routes, streams or
// watch targets come from tenant input (repositories, channels, calendars,
// projects, folders, chats). The engine routes webhook deliveries about a
// resource only after ProveAccess granted it with the connection's own
// token, refuses a config naming a resource the token cannot read, and
// stops routing a resource when a sync finds its access lost.
type AccessProver interface {
	// ResourceRefs lists the refs of the resources the config names,
	// without calling the provider.
	ResourceRefs(conn Connection) ([]string, error)
	// ProveAccess reads each resource with req.HTTP. A resource the token
	// cannot read (not found, forbidden, not a member) is a Denial, not an
	// error; err is for failures that say nothing about access (rate
	// limits, transient failures, a revoked token).
	ProveAccess(ctx context.Context, req AccessRequest) (*AccessReport, error)
}

// ResourceStreams maps a sync stream to the ref of the resource it reads, so
// that a sync failing with ErrNotFound or ErrForbidden drops exactly that
// resource's routes, and a later successful sync brings them back.
type ResourceStreams interface {
	StreamResource(stream string) (ref string, ok bool)
}

// ResourceMover is implemented by connectors whose provider can give a
// resource a new ref for good, under which the old one is unknown (a Slack
// legacy private channel shared through Slack Connect). A page of the
// resource's stream that finds it there says so (Page.Moved). The engine
// then asks MoveResource what the connection becomes, proves the new ref
// with the connection's own token (AccessProver, that ref only), and in
// one transaction stores the new config (tenant input rewritten by the
// service: GET /connections shows it), replaces the resource by the one
// proved, moves the cursors and rebuilds the routes; the change is then
// applied as a PATCH's is (schedules, watch channels, a catch-up sync).
// A new ref the token cannot read leaves the old one lost, as a sync that
// cannot read it does.
type ResourceMover interface {
	// MoveResource returns what conn becomes when the resource from is
	// at to, without calling the provider.
	MoveResource(conn Connection, from, to string) (*ResourceMove, error)
}

// ResourceMove is a connection's config and cursors once a resource
// moved.
type ResourceMove struct {
	// Config is the connection's config naming the new ref instead of the
	// old one, as ConfigValidator would store it.
	Config json.RawMessage
	// Streams maps each stream whose cursor moves to the stream it moves
	// to ("history:G0…" → "history:C0…"): the new stream goes on from
	// where the old one stood instead of reading everything again.
	Streams map[string]string
}

// Denied builds a Denial from an access error: ErrNotFound and ErrForbidden
// deny the resource; any other error is returned for the caller to fail
// with (it says nothing about access).
func Denied(ref string, err error) (*Denial, error) {
	switch Kind(err) {
	case ErrNotFound:
		return &Denial{Ref: ref, Reason: "not found, or not visible to the connected account", Err: err}, nil
	case ErrForbidden:
		return &Denial{Ref: ref, Reason: "the connected account may not read it", Err: err}, nil
	}
	return nil, err
}

// ErrAccessDenied is matched (errors.Is) by an *AccessError.
var ErrAccessDenied = errors.New("access denied")

// AccessError reports resources a connection's token could not read.
type AccessError struct {
	Report *AccessReport
}

func (e *AccessError) Error() string { return e.Report.Error() }

// Is makes errors.Is(err, ErrAccessDenied) true.
func (e *AccessError) Is(target error) bool { return target == ErrAccessDenied }

// Fields lists each denied ref with its reason, for API error details.
func (e *AccessError) Fields() map[string]string {
	out := make(map[string]string, len(e.Report.Denied))
	for _, d := range e.Report.Denied {
		out[d.Ref] = d.Reason
	}
	return out
}

// CheckReport returns an *AccessError when the report denies anything.
func CheckReport(r *AccessReport) error {
	if r == nil || len(r.Denied) == 0 {
		return nil
	}
	return &AccessError{Report: r}
}

// String formats a denial for logs and health reasons.
func (d Denial) String() string { return fmt.Sprintf("%s: %s", d.Ref, d.Reason) }
