package poblysh_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh"
)

// TestHealthNext lists every transition of the health state machine: each
// event from each state it can meet, with the state and reason it leads to
// ("" keeps the current reason).
func TestHealthNext(t *testing.T) {
	t.Parallel()
	const (
		healthy  = poblysh.HealthHealthy
		degraded = poblysh.HealthDegraded
		reauth   = poblysh.HealthNeedsReauth
		disabled = poblysh.HealthDisabled
	)
	ev := func(k poblysh.HealthEventKind, detail string) poblysh.HealthEvent {
		return poblysh.HealthEvent{Kind: k, Detail: detail}
	}
	transient := poblysh.HealthEvent{Kind: poblysh.EventTransientFailures, Detail: "503 from api", Attempt: 3}
	synced := poblysh.HealthEvent{Kind: poblysh.EventSynced}
	syncedLost := poblysh.HealthEvent{Kind: poblysh.EventSynced, LostAccess: true}
	for _, c := range []struct {
		name   string
		from   poblysh.Health
		ev     poblysh.HealthEvent
		to     poblysh.Health
		reason string
	}{
		{"sync failed transiently after retries", healthy, transient, degraded, "transient failures (attempt 3): 503 from api"},
		{"still failing transiently", degraded, transient, degraded, "transient failures (attempt 3): 503 from api"},
		{"transient trouble does not override needs_reauth", reauth, transient, reauth, ""},
		{"operator-disabled stays disabled on failures", disabled, transient, disabled, ""},

		{"credentials rejected", healthy, ev(poblysh.EventCredentialsRejected, "401"), reauth, "provider rejected the credentials: 401"},
		{"credentials rejected while degraded", degraded, ev(poblysh.EventCredentialsRejected, "401"), reauth, "provider rejected the credentials: 401"},
		{"credentials rejected again", reauth, ev(poblysh.EventCredentialsRejected, "401"), reauth, "provider rejected the credentials: 401"},
		{"credentials rejected while disabled", disabled, ev(poblysh.EventCredentialsRejected, "401"), disabled, ""},

		{"token refresh failed permanently", healthy, ev(poblysh.EventRefreshFailed, "invalid_grant"), reauth, "token refresh failed permanently: invalid_grant"},
		{"token refresh failed permanently while degraded", degraded, ev(poblysh.EventRefreshFailed, "invalid_grant"), reauth, "token refresh failed permanently: invalid_grant"},
		{"token refresh failed while disabled", disabled, ev(poblysh.EventRefreshFailed, "invalid_grant"), disabled, ""},

		{"OAuth client refused at refresh degrades", healthy, ev(poblysh.EventClientRefused, "invalid_client"), degraded, clientRefused + "invalid_client"},
		{"OAuth client refused while degraded", degraded, ev(poblysh.EventClientRefused, "invalid_client"), degraded, clientRefused + "invalid_client"},
		{"OAuth client refused does not override needs_reauth", reauth, ev(poblysh.EventClientRefused, "invalid_client"), reauth, ""},
		{"OAuth client refused while disabled", disabled, ev(poblysh.EventClientRefused, "invalid_client"), disabled, ""},

		{"permission denied", healthy, ev(poblysh.EventPermissionDenied, "403"), degraded, "permission denied: 403"},
		{"not found at the provider", healthy, ev(poblysh.EventNotFound, "404"), degraded, "not found at the provider: 404"},
		{"invalid configuration", healthy, ev(poblysh.EventInvalidConfig, "bad repo"), degraded, "invalid configuration: bad repo"},
		{"degraded does not override needs_reauth (403)", reauth, ev(poblysh.EventPermissionDenied, "403"), reauth, ""},
		{"degraded does not override needs_reauth (404)", reauth, ev(poblysh.EventNotFound, "404"), reauth, ""},
		{"degraded does not override needs_reauth (config)", reauth, ev(poblysh.EventInvalidConfig, "x"), reauth, ""},

		{"access lost", healthy, ev(poblysh.EventAccessLost, "octo/app: not found"), degraded, "lost access to octo/app: not found"},
		{"access lost while degraded", degraded, ev(poblysh.EventAccessLost, "octo/app: not found"), degraded, "lost access to octo/app: not found"},
		{"access lost does not override needs_reauth", reauth, ev(poblysh.EventAccessLost, "octo/app: not found"), reauth, ""},
		{"access lost while disabled", disabled, ev(poblysh.EventAccessLost, "octo/app: not found"), disabled, ""},

		{"sync succeeded heals degraded", degraded, synced, healthy, "recovered"},
		{"sync succeeded while healthy", healthy, synced, healthy, ""},
		{"sync succeeded, access still lost", degraded, syncedLost, degraded, ""},
		{"access regained: the next pass reads everything", degraded, synced, healthy, "recovered"},
		{"sync succeeded does not lift needs_reauth", reauth, synced, reauth, ""},
		{"sync succeeded does not lift disabled", disabled, synced, disabled, ""},

		{"paused", healthy, ev(poblysh.EventPaused, ""), disabled, "paused by an operator"},
		{"paused while degraded", degraded, ev(poblysh.EventPaused, ""), disabled, "paused by an operator"},
		{"paused while needs_reauth", reauth, ev(poblysh.EventPaused, ""), disabled, "paused by an operator"},
		{"paused again", disabled, ev(poblysh.EventPaused, ""), disabled, "paused by an operator"},

		{"resumed", disabled, ev(poblysh.EventResumed, ""), healthy, "resumed by an operator"},
		{"resume of a healthy connection changes nothing", healthy, ev(poblysh.EventResumed, ""), healthy, ""},
		{"resume does not lift needs_reauth", reauth, ev(poblysh.EventResumed, ""), reauth, ""},
		{"resume keeps degraded", degraded, ev(poblysh.EventResumed, ""), degraded, ""},

		{"re-authorized heals needs_reauth", reauth, ev(poblysh.EventReauthorized, ""), healthy, "reconnected"},
		{"re-authorized heals degraded", degraded, ev(poblysh.EventReauthorized, ""), healthy, "reconnected"},
		{"re-authorized while healthy", healthy, ev(poblysh.EventReauthorized, ""), healthy, "reconnected"},
		{"operator-disabled stays disabled when re-authorized", disabled, ev(poblysh.EventReauthorized, ""), disabled, ""},

		{"grant ends soon: the reason says when", healthy, ev(poblysh.EventGrantExpiring, "the Jira authorization ends on 2027-01-01"), healthy, "the Jira authorization ends on 2027-01-01"},
		{"grant ends soon, degraded keeps its reason", degraded, ev(poblysh.EventGrantExpiring, "ends soon"), degraded, ""},
		{"grant ends soon, needs_reauth keeps its reason", reauth, ev(poblysh.EventGrantExpiring, "ends soon"), reauth, ""},
		{"grant ends soon, disabled keeps its reason", disabled, ev(poblysh.EventGrantExpiring, "ends soon"), disabled, ""},

		{"an unknown event changes nothing", healthy, ev("mystery", "x"), healthy, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			to, reason := c.from.Next(c.ev)
			require.Equal(t, c.to, to)
			require.Equal(t, c.reason, reason)
		})
	}
}

const clientRefused = "token refresh: the provider refused this service's OAuth client (the grant is kept): "

// TestHealthNextFrom: a successful refresh heals the degradation a refused
// OAuth client caused, and only that one.
func TestHealthNextFrom(t *testing.T) {
	t.Parallel()
	refreshed := poblysh.HealthEvent{Kind: poblysh.EventRefreshed}
	for _, c := range []struct {
		name   string
		from   poblysh.Health
		cur    string
		to     poblysh.Health
		reason string
	}{
		{"heals a refused client", poblysh.HealthDegraded, clientRefused + "check POBLYSH_JIRA_CLIENT_SECRET", poblysh.HealthHealthy, "recovered: the provider accepted the OAuth client again"},
		{"leaves a permission denied", poblysh.HealthDegraded, "permission denied: 403", poblysh.HealthDegraded, ""},
		{"leaves a lost resource", poblysh.HealthDegraded, "lost access to octo/app: not found", poblysh.HealthDegraded, ""},
		{"leaves transient failures", poblysh.HealthDegraded, "transient failures (attempt 3): 503", poblysh.HealthDegraded, ""},
		{"healthy stays healthy", poblysh.HealthHealthy, "", poblysh.HealthHealthy, ""},
		{"does not lift needs_reauth", poblysh.HealthNeedsReauth, clientRefused + "x", poblysh.HealthNeedsReauth, ""},
		{"does not lift disabled", poblysh.HealthDisabled, clientRefused + "x", poblysh.HealthDisabled, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			to, reason := c.from.NextFrom(c.cur, refreshed)
			require.Equal(t, c.to, to)
			require.Equal(t, c.reason, reason)
		})
	}

	// A refused client replaced the reason of a resource still lost: the
	// heal lands on degraded with that reason, or the resource stayed
	// hidden (a completed sync never degrades a healthy connection).
	h, reason := poblysh.HealthHealthy.Next(poblysh.HealthEvent{Kind: poblysh.EventAccessLost, Detail: "octo/app: not found"})
	h, reason = h.NextFrom(reason, poblysh.HealthEvent{Kind: poblysh.EventClientRefused, Detail: "invalid_client"})
	require.Equal(t, poblysh.HealthDegraded, h)
	h, reason = h.NextFrom(reason, poblysh.HealthEvent{Kind: poblysh.EventRefreshed, LostAccess: true, Detail: "octo/app: not found"})
	require.Equal(t, poblysh.HealthDegraded, h, "the resource is still lost")
	require.Equal(t, "lost access to octo/app: not found", reason)
	h, reason = h.Next(poblysh.HealthEvent{Kind: poblysh.EventSynced})
	require.Equal(t, poblysh.HealthHealthy, h, "a sync that reads it again heals")
	require.Equal(t, "recovered", reason)

	to, reason := poblysh.HealthHealthy.NextFrom("", poblysh.HealthEvent{Kind: poblysh.EventClientRefused, Detail: "d"})
	require.Equal(t, poblysh.HealthDegraded, to, "other events are Next's")
	require.Equal(t, clientRefused+"d", reason)
}

// TestHealthReasonIsBounded: a provider's long error is cut to 500 bytes.
func TestHealthReasonIsBounded(t *testing.T) {
	t.Parallel()
	h, reason := poblysh.HealthHealthy.Next(poblysh.HealthEvent{Kind: poblysh.EventNotFound, Detail: strings.Repeat("x", 2000)})
	require.Equal(t, poblysh.HealthDegraded, h)
	require.Len(t, reason, 500)
	require.True(t, strings.HasPrefix(reason, "not found at the provider: xxx"))
}

// TestHealthInvariants checks the precedence rules over every state and
// event: only a resume lifts disabled, only a pause disables, and degraded
// never replaces needs_reauth.
func TestHealthInvariants(t *testing.T) {
	t.Parallel()
	states := []poblysh.Health{poblysh.HealthHealthy, poblysh.HealthDegraded, poblysh.HealthNeedsReauth, poblysh.HealthDisabled}
	events := []poblysh.HealthEventKind{poblysh.EventTransientFailures, poblysh.EventCredentialsRejected, poblysh.EventRefreshFailed,
		poblysh.EventPermissionDenied, poblysh.EventNotFound, poblysh.EventInvalidConfig, poblysh.EventAccessLost, poblysh.EventSynced,
		poblysh.EventPaused, poblysh.EventResumed, poblysh.EventReauthorized, poblysh.EventGrantExpiring, poblysh.EventClientRefused,
		poblysh.EventRefreshed}
	for _, from := range states {
		require.True(t, from.Valid())
		for _, k := range events {
			to, reason := from.Next(poblysh.HealthEvent{Kind: k, Detail: "d", Attempt: 3})
			require.True(t, to.Valid(), "%s + %s", from, k)
			if reason == "" {
				require.Equal(t, from, to, "%s + %s: no reason, no move", from, k)
			}
			if from == poblysh.HealthDisabled && k != poblysh.EventResumed {
				require.Equal(t, poblysh.HealthDisabled, to, "%s: only a resume lifts disabled", k)
			}
			if from != poblysh.HealthDisabled && to == poblysh.HealthDisabled {
				require.Equal(t, poblysh.EventPaused, k, "only a pause disables")
			}
			if from == poblysh.HealthNeedsReauth {
				require.NotEqual(t, poblysh.HealthDegraded, to, "%s: degraded never replaces needs_reauth", k)
			}
		}
	}
	require.False(t, poblysh.Health("sick").Valid())
}
