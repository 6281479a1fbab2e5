package poblysh

import (
	"fmt"
	"strings"
)

// Health is a connection's state machine:
// healthy → degraded (transient failures, a resource out of reach) →
// needs_reauth (grant revoked or refresh failed permanently); disabled is
// set by an operator. Health.Next is the one place that decides a move;
// the database stores what it decides.
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

// HealthEventKind names what happened to a connection.
type HealthEventKind string

// Health events.
const (
	// EventTransientFailures: provider calls kept failing transiently
	// (the activity reports it once retries pile up).
	EventTransientFailures HealthEventKind = "transient_failures"
	// EventCredentialsRejected: the provider answered 401 to the token.
	EventCredentialsRejected HealthEventKind = "credentials_rejected"
	// EventRefreshFailed: the token refresh failed permanently (revoked grant).
	EventRefreshFailed HealthEventKind = "refresh_failed"
	// EventClientRefused: the token endpoint refused the service's own OAuth
	// client (a wrong or rotated client secret: invalid_client...), not the
	// user's grant, which is kept (Detail names what to check).
	EventClientRefused HealthEventKind = "client_refused"
	// EventRefreshed: a token refresh succeeded; it heals only what
	// EventClientRefused degraded (see Health.NextFrom), to degraded again
	// when a resource is still lost (LostAccess; Detail names it).
	EventRefreshed HealthEventKind = "refreshed"
	// EventPermissionDenied: the provider answered 403.
	EventPermissionDenied HealthEventKind = "permission_denied"
	// EventNotFound: the provider answered 404 for what the connection reads.
	EventNotFound HealthEventKind = "not_found"
	// EventInvalidConfig: the provider refused the connection's config.
	EventInvalidConfig HealthEventKind = "invalid_config"
	// EventAccessLost: a sync could no longer read one of the connection's
	// resources (Detail names it).
	EventAccessLost HealthEventKind = "access_lost"
	// EventSynced: a sync pass completed; LostAccess says whether a
	// resource of the connection is still out of reach.
	EventSynced HealthEventKind = "synced"
	// EventPaused: an operator paused the connection.
	EventPaused HealthEventKind = "paused"
	// EventResumed: an operator resumed it.
	EventResumed HealthEventKind = "resumed"
	// EventReauthorized: the account was authorized again (a connect or a
	// reconnect of the same account).
	EventReauthorized HealthEventKind = "reauthorized"
	// EventGrantExpiring: the provider ends the authorization on a known
	// date that is near (Detail says when and what to do); a healthy
	// connection shows it as its reason.
	EventGrantExpiring HealthEventKind = "grant_expiring"
)

// HealthEvent is something that happened to a connection that may move
// its health.
type HealthEvent struct {
	Kind HealthEventKind
	// Detail completes the reason: the provider's error, or the resource
	// lost. It must not carry a secret (reasons are shown by the API).
	Detail string
	// Attempt is the attempt a transient failure happened on.
	Attempt int
	// LostAccess (EventSynced, EventRefreshed): a resource is still
	// recorded as lost.
	LostAccess bool
}

// maxReason bounds a stored reason (provider errors can be long).
const maxReason = 500

// clientRefused starts the reason EventClientRefused gives, by which a
// later successful refresh knows the degradation is its to heal.
const clientRefused = "token refresh: the provider refused this service's OAuth client (the grant is kept): "

// NextFrom is Next for a connection whose current reason is cur: a
// successful refresh (EventRefreshed) heals a connection degraded because
// the token endpoint refused the OAuth client, and nothing else (a 403 or a
// lost resource is not fixed by a new token). A refused client replaced
// the reason it found, which may have been a resource still lost: then
// the heal lands on degraded naming that resource, since a completed sync
// never degrades a healthy connection and the loss would stay hidden.
func (h Health) NextFrom(cur string, ev HealthEvent) (Health, string) {
	if ev.Kind != EventRefreshed {
		return h.Next(ev)
	}
	if h != HealthDegraded || !strings.HasPrefix(cur, clientRefused) {
		return h, ""
	}
	if ev.LostAccess {
		return HealthDegraded, reason("lost access to " + ev.Detail)
	}
	return HealthHealthy, "recovered: the provider accepted the OAuth client again"
}

// Next is the health after ev and the reason to show for it. The reason is
// "" when ev leaves the health and its reason as they are. Precedence:
// only an operator lifts disabled (resume); transient trouble never
// overrides needs_reauth; a completed sync heals degraded only when no
// resource is still lost; re-authorizing heals everything but disabled; a
// warning of a grant's end shows only on a healthy connection; a refused
// OAuth client degrades, and only a revoked grant needs re-authorization.
// EventRefreshed, which depends on the current reason, is NextFrom's.
func (h Health) Next(ev HealthEvent) (Health, string) {
	switch ev.Kind {
	case EventPaused:
		return HealthDisabled, "paused by an operator"
	case EventResumed:
		if h == HealthDisabled {
			return HealthHealthy, "resumed by an operator"
		}
		return h, ""
	}
	if h == HealthDisabled {
		return h, ""
	}
	switch ev.Kind {
	case EventReauthorized:
		return HealthHealthy, "reconnected"
	case EventGrantExpiring:
		if h == HealthHealthy {
			return h, reason(ev.Detail)
		}
		return h, ""
	case EventSynced:
		if h == HealthDegraded && !ev.LostAccess {
			return HealthHealthy, "recovered"
		}
		return h, ""
	case EventCredentialsRejected:
		return HealthNeedsReauth, reason("provider rejected the credentials: " + ev.Detail)
	case EventRefreshFailed:
		return HealthNeedsReauth, reason("token refresh failed permanently: " + ev.Detail)
	}
	if h == HealthNeedsReauth {
		return h, ""
	}
	switch ev.Kind {
	case EventPermissionDenied:
		return HealthDegraded, reason("permission denied: " + ev.Detail)
	case EventNotFound:
		return HealthDegraded, reason("not found at the provider: " + ev.Detail)
	case EventInvalidConfig:
		return HealthDegraded, reason("invalid configuration: " + ev.Detail)
	case EventClientRefused:
		return HealthDegraded, reason(clientRefused + ev.Detail)
	case EventAccessLost:
		return HealthDegraded, reason("lost access to " + ev.Detail)
	case EventTransientFailures:
		return HealthDegraded, reason(fmt.Sprintf("transient failures (attempt %d): %s", ev.Attempt, ev.Detail))
	}
	return h, ""
}

func reason(s string) string {
	if len(s) > maxReason {
		return s[:maxReason]
	}
	return s
}
