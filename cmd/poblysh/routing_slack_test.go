package main

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	httptransport "github.com/go-openapi/runtime/client"
	"github.com/go-openapi/strfmt"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/gen/client/connections"
	"github.com/poblysh/poblysh/gen/models"
	slacksandbox "github.com/poblysh/poblysh/sandbox/slack"
)

// slackStack is a stack whose Slack points at a sandbox delivering events
// to it.
func slackStack(t *testing.T) (*stack, *slacksandbox.Server, string) {
	t.Helper()
	sl := slacksandbox.New(slacksandbox.Options{Seed: true})
	base := newHTTPServer(t, sl)
	s := newStack(t, withEnv(sl.Env(base)))
	sl.Deliverer.SetTarget(s.base + "/api/v1/webhooks/slack")
	return s, sl, base
}

// slackAnswers posts a message through the sandbox's control API and
// returns the service's answers to the Events API deliveries it made
// (none when the bot is not in the channel: Slack sends nothing).
func slackAnswers(t *testing.T, base, channel, user, text string) []map[string]any {
	t.Helper()
	out := control(t, "POST", base+"/_sandbox/slack/messages", map[string]any{"channel": channel, "user": user, "text": text})
	var answers []map[string]any
	dels, _ := out["deliveries"].([]any)
	for _, d := range dels {
		dm := d.(map[string]any)
		require.EqualValues(t, http.StatusOK, dm["status"], "%v", dm)
		var ans map[string]any
		require.NoError(t, json.Unmarshal([]byte(dm["body"].(string)), &ans))
		answers = append(answers, ans)
	}
	return answers
}

// slackChannelSignals counts a tenant's Signals from the given channels.
func (s *stack) slackChannelSignals(tenant string, channels ...string) int {
	return s.count(`SELECT count(*) FROM signals WHERE tenant_id = $1 AND source = 'slack'
		AND payload->'context'->>'id' = ANY($2)`, tenant, channels)
}

func (s *stack) routes(connID string) []string {
	s.t.Helper()
	return s.texts(`SELECT route_key FROM webhook_routes WHERE connection_id = $1 ORDER BY route_key`, connID)
}

// texts runs a query of one text column as the schema owner and returns
// its rows.
func (s *stack) texts(query string, args ...any) []string {
	s.t.Helper()
	rows, err := s.owner().Query(s.t.Context(), query, args...)
	require.NoError(s.t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		require.NoError(s.t, rows.Scan(&v))
		out = append(out, v)
	}
	require.NoError(s.t, rows.Err())
	return out
}

// TestSlackWorkspaceHeldByOneTenant: a second tenant's connect to a
// workspace another tenant holds is refused with 409 and stores nothing;
// the holder's connection is untouched (healthy, routed, receiving) and
// may re-connect; the second tenant, connected to its own workspace, gets
// nothing of the first workspace by webhook, sync or backfill, and may not
// name its channels.
func TestSlackWorkspaceHeldByOneTenant(t *testing.T) {
	t.Parallel()
	s, _, base := slackStack(t)
	tenantA, keyA := s.tenant("Acme")
	tenantB, keyB := s.tenant("Mallory Inc")
	ours := []string{slacksandbox.ChannelGeneral, slacksandbox.ChannelPress}

	code, body := s.connectAs(keyA, "slack", slacksandbox.UserAlice, map[string]any{"channels": ours})
	require.Equal(t, http.StatusOK, code, body)
	connA := string(*connectionOf(t, body).ID)
	for _, j := range s.waitJobs(keyA, connA, "backfill", 2, 2*time.Minute) {
		require.Equal(t, models.JobStatusSucceeded, *j.Status, "%s: %s", *j.Stream, deref(j.Error))
	}
	routesA := s.routes(connA)
	require.Equal(t, []string{"app:" + slacksandbox.DefaultTeamID, "channel:" + slacksandbox.ChannelGeneral, "channel:" + slacksandbox.ChannelPress}, routesA)

	// Another tenant, through another member of the same workspace: 409.
	for _, cfg := range []map[string]any{{"channels": []string{slacksandbox.ChannelGeneral}}, {}} {
		code, body = s.connectAs(keyB, "slack", slacksandbox.UserBob, cfg)
		require.Equal(t, http.StatusConflict, code, body)
		require.Contains(t, body, `"code":"conflict"`)
		require.Contains(t, body, "already connected to Poblysh by another organisation")
	}
	require.Zero(t, s.count(`SELECT count(*) FROM connections WHERE tenant_id = $1`, tenantB), "a refused connect stores nothing")
	c := s.connection(keyA, connA)
	require.EqualValues(t, "healthy", *c.Health)
	require.Equal(t, routesA, s.routes(connA), "the holder's routes are untouched")

	// The holder re-connects: same connection, still routed.
	code, body = s.connectAs(keyA, "slack", slacksandbox.UserCarol, map[string]any{"channels": ours})
	require.Equal(t, http.StatusOK, code, body)
	require.Equal(t, connA, string(*connectionOf(t, body).ID))
	require.Equal(t, routesA, s.routes(connA))

	// B connects its own workspace, and may not name A's channels there.
	code, body = s.connectAs(keyB, "slack", slacksandbox.UserDave, map[string]any{"channels": []string{slacksandbox.OtherChannel}})
	require.Equal(t, http.StatusOK, code, body)
	connB := string(*connectionOf(t, body).ID)
	s.waitJobs(keyB, connB, "backfill", 1, 2*time.Minute)
	code, body = s.patch(keyB, connB, `{"config":{"channels":["`+slacksandbox.OtherChannel+`","`+slacksandbox.ChannelGeneral+`"]}}`)
	require.Equal(t, http.StatusUnprocessableEntity, code, body)
	require.Contains(t, body, `"code":"invalid_config"`)
	require.Contains(t, body, slacksandbox.ChannelGeneral)

	// A's activity reaches A only, and the other way round.
	beforeA := s.count(`SELECT count(*) FROM signals WHERE tenant_id = $1`, tenantA)
	answers := slackAnswers(t, base, slacksandbox.ChannelGeneral, slacksandbox.UserBob, "Embargoed: Series B on Tuesday")
	require.Len(t, answers, 1)
	require.Equal(t, "accepted", answers[0]["status"])
	require.EqualValues(t, 1, answers[0]["connections"])
	require.Equal(t, beforeA+1, s.count(`SELECT count(*) FROM signals WHERE tenant_id = $1`, tenantA))
	answers = slackAnswers(t, base, slacksandbox.OtherChannel, slacksandbox.UserDave, "Bolt news")
	require.Equal(t, "accepted", answers[0]["status"])
	require.EqualValues(t, 1, answers[0]["connections"])
	require.Equal(t, beforeA+1, s.count(`SELECT count(*) FROM signals WHERE tenant_id = $1`, tenantA))

	for _, mode := range []string{"incremental", "backfill"} {
		for _, j := range s.sync(keyB, "slack", connB, mode) {
			require.Equal(t, models.JobStatusSucceeded, *j.Status, deref(j.Error))
		}
	}
	require.Zero(t, s.slackChannelSignals(tenantB, slacksandbox.ChannelGeneral, slacksandbox.ChannelPress, slacksandbox.ChannelRandom),
		"nothing of A's workspace in B's feed")
	require.Equal(t, slacksandbox.OtherSignals+1, s.slackChannelSignals(tenantB, slacksandbox.OtherChannel))
	require.Zero(t, s.count(`SELECT count(*) FROM webhook_events WHERE $1::uuid = ANY (tenant_ids)
		AND convert_from(raw_body, 'UTF8') LIKE '%`+slacksandbox.DefaultTeamID+`%'`, tenantB), "no delivery of A's workspace routed to B")
	require.EqualValues(t, "healthy", *s.connection(keyA, connA).Health)
}

// TestSlackRoutesOnlyChannelsTheBotIsIn: a configured channel the bot is
// not a member of is refused at connect and at PATCH; an event of a
// channel outside the config reaches nobody; a channel the bot leaves is
// access lost (route dropped, connection degraded) as soon as Slack says
// so, until a sync reads it again.
func TestSlackRoutesOnlyChannelsTheBotIsIn(t *testing.T) {
	t.Parallel()
	s, sl, base := slackStack(t)
	tenant, key := s.tenant("Acme")

	code, body := s.connectAs(key, "slack", slacksandbox.UserAlice, map[string]any{"channels": []string{slacksandbox.ChannelGeneral, slacksandbox.ChannelRandom}})
	require.Equal(t, http.StatusUnprocessableEntity, code, body)
	require.Contains(t, body, `"code":"invalid_config"`)
	require.Contains(t, body, slacksandbox.ChannelRandom)
	require.NotContains(t, body, `"`+slacksandbox.ChannelGeneral+`"`, "only the refused channel is named")
	require.Zero(t, s.count(`SELECT count(*) FROM connections WHERE tenant_id = $1`, tenant))
	require.Zero(t, s.count(`SELECT count(*) FROM account_claims WHERE tenant_id = $1`, tenant), "a refused connect claims nothing")

	code, body = s.connectAs(key, "slack", slacksandbox.UserAlice, map[string]any{"channels": []string{slacksandbox.ChannelGeneral}})
	require.Equal(t, http.StatusOK, code, body)
	conn := string(*connectionOf(t, body).ID)
	s.waitJobs(key, conn, "backfill", 1, 2*time.Minute)
	for _, cfg := range []string{`{"config":{"channels":["` + slacksandbox.ChannelRandom + `"]}}`,
		`{"config":{"channels":["` + slacksandbox.ChannelGeneral + `","` + slacksandbox.ChannelRandom + `"]}}`} {
		code, body = s.patch(key, conn, cfg)
		require.Equal(t, http.StatusUnprocessableEntity, code, body)
		require.Contains(t, body, `"code":"invalid_config"`)
		require.Contains(t, body, slacksandbox.ChannelRandom)
	}
	require.JSONEq(t, `{"channels":["`+slacksandbox.ChannelGeneral+`"]}`, string(mustJSON(t, s.connection(key, conn).Config)), "the config is unchanged")
	require.Equal(t, []string{"app:" + slacksandbox.DefaultTeamID, "channel:" + slacksandbox.ChannelGeneral}, s.routes(conn))

	// #press-room: the bot is in it, so Slack sends its events, but it is
	// not in the config: nobody receives them.
	before := s.count(`SELECT count(*) FROM signals WHERE tenant_id = $1`, tenant)
	answers := slackAnswers(t, base, slacksandbox.ChannelPress, slacksandbox.UserBob, "Embargo lifts at 9")
	require.Len(t, answers, 1)
	require.Equal(t, "unroutable", answers[0]["status"])
	require.Empty(t, slackAnswers(t, base, slacksandbox.ChannelRandom, slacksandbox.UserBob, "lunch?"), "no event for a channel without the bot")
	answers = slackAnswers(t, base, slacksandbox.ChannelGeneral, slacksandbox.UserBob, "The Verge piece is live")
	require.Equal(t, "accepted", answers[0]["status"])
	require.Equal(t, before+1, s.count(`SELECT count(*) FROM signals WHERE tenant_id = $1`, tenant))
	require.Zero(t, s.slackChannelSignals(tenant, slacksandbox.ChannelPress))

	// The bot is removed from #general: Slack sends channel_left, and the
	// connection's sync it starts loses access at once, not at the next
	// reconciliation poll hours later (until then the channel's events,
	// in a Slack Connect channel those of the other side too, kept
	// reaching it).
	out := control(t, "POST", base+"/_sandbox/slack/channels/"+slacksandbox.ChannelGeneral+"/remove-bot", map[string]any{})
	require.Equal(t, "channel_left", out["type"])
	dels, _ := out["deliveries"].([]any)
	require.Len(t, dels, 1)
	require.Contains(t, dels[0].(map[string]any)["body"], `"status":"accepted"`)
	require.Eventually(t, func() bool { return len(s.routes(conn)) == 1 }, time.Minute, 100*time.Millisecond,
		"the channel's route is dropped without a sync by hand")
	// The routes go first, the health in the statement after them: wait
	// for it too (read between the two, it was still healthy).
	require.Eventually(t, func() bool { return *s.connection(key, conn).Health == "degraded" }, time.Minute, 100*time.Millisecond,
		"the connection is degraded")
	c := s.connection(key, conn)
	require.EqualValues(t, "degraded", *c.Health)
	require.Contains(t, c.HealthReason, slacksandbox.ChannelGeneral)
	require.Equal(t, []string{"app:" + slacksandbox.DefaultTeamID}, s.routes(conn), "the channel's route is dropped")
	// The pass the event started has ended (a request while it fails
	// would be its follow-up, cancelled with it).
	for _, j := range s.waitJobs(key, conn, "incremental", 1, time.Minute) {
		require.Equal(t, models.JobStatusFailed, *j.Status)
	}

	// Invited again: the next sync proves it and routes it again.
	require.NoError(t, sl.SetBotMembership(slacksandbox.ChannelGeneral, true))
	for _, j := range s.sync(key, "slack", conn, "incremental") {
		require.Equal(t, models.JobStatusSucceeded, *j.Status, deref(j.Error))
	}
	require.EqualValues(t, "healthy", *s.connection(key, conn).Health)
	require.Equal(t, []string{"app:" + slacksandbox.DefaultTeamID, "channel:" + slacksandbox.ChannelGeneral}, s.routes(conn))
	answers = slackAnswers(t, base, slacksandbox.ChannelGeneral, slacksandbox.UserBob, "Back in")
	require.Equal(t, "accepted", answers[0]["status"])
}

// TestSlackEnterpriseGridOrgInstall: an org-wide install ("team": null,
// an enterprise) connects as the org, proves channels across the
// workspaces the org granted, is held by one tenant, and receives the
// events Slack delivers with the workspace's team_id; with no channels
// configured it receives every member channel of the org.
func TestSlackEnterpriseGridOrgInstall(t *testing.T) {
	t.Parallel()
	s, _, base := slackStack(t)
	tenant, key := s.tenant("Globex PR")
	_, otherKey := s.tenant("Initech")
	grid := []string{slacksandbox.GridChannelEU, slacksandbox.GridChannelHQ}

	code, body := s.connectAs(key, "slack", slacksandbox.UserGrace, map[string]any{"channels": append([]string{slacksandbox.GridChannelBoard}, grid...)})
	require.Equal(t, http.StatusUnprocessableEntity, code, body)
	require.Contains(t, body, slacksandbox.GridChannelBoard, "a private channel without the bot")

	code, body = s.connectAs(key, "slack", slacksandbox.UserGrace, map[string]any{"channels": grid})
	require.Equal(t, http.StatusOK, code, body)
	c := connectionOf(t, body)
	conn := string(*c.ID)
	require.Equal(t, slacksandbox.EnterpriseID, *c.ExternalAccountID, "an org-wide install is the org")
	require.Equal(t, slacksandbox.EnterpriseName, *c.DisplayName)
	js := s.waitJobs(key, conn, "backfill", 3, 2*time.Minute) // two channels and the org's workspaces
	for _, j := range js {
		require.Equal(t, models.JobStatusSucceeded, *j.Status, "%s: %s", *j.Stream, deref(j.Error))
	}
	require.EqualValues(t, slacksandbox.GridHQSignals+slacksandbox.GridEUSignals, stored(js))
	require.Equal(t, []string{"app:" + slacksandbox.EnterpriseID, "app:" + slacksandbox.GridTeam2ID, "app:" + slacksandbox.GridTeamID,
		"channel:" + slacksandbox.GridChannelEU, "channel:" + slacksandbox.GridChannelHQ}, s.routes(conn))

	code, body = s.connectAs(otherKey, "slack", slacksandbox.UserGrace, map[string]any{"channels": grid})
	require.Equal(t, http.StatusConflict, code, body)
	code, body = s.patch(key, conn, `{"config":{"channels":["`+slacksandbox.GridChannelHQ+`","`+slacksandbox.ChannelGeneral+`"]}}`)
	require.Equal(t, http.StatusUnprocessableEntity, code, body)
	require.Contains(t, body, slacksandbox.ChannelGeneral, "a channel of a workspace outside the org")

	// Slack delivers with the workspace's team_id and the org's
	// authorization: routed by the channel.
	answers := slackAnswers(t, base, slacksandbox.GridChannelHQ, slacksandbox.UserGrace, "Q2 guidance raised")
	require.Len(t, answers, 1)
	require.Equal(t, "accepted", answers[0]["status"])
	require.Equal(t, 1, s.count(`SELECT count(*) FROM webhook_events WHERE $1::uuid = ANY (tenant_ids)
		AND convert_from(raw_body, 'UTF8')::jsonb->>'team_id' = $2
		AND convert_from(raw_body, 'UTF8')::jsonb->'authorizations'->0->>'is_enterprise_install' = 'true'`, tenant, slacksandbox.GridTeamID))
	require.Equal(t, slacksandbox.GridHQSignals+1, s.slackChannelSignals(tenant, slacksandbox.GridChannelHQ))

	// Every member channel of the org: routed by the org's install key.
	code, body = s.patch(key, conn, `{"config":{"channels":[]}}`)
	require.Equal(t, http.StatusOK, code, body)
	require.Equal(t, []string{"app:" + slacksandbox.EnterpriseID, "app:" + slacksandbox.GridTeam2ID, "app:" + slacksandbox.GridTeamID,
		"channel:" + slacksandbox.GridChannelEU, "channel:" + slacksandbox.GridChannelHQ, "enterprise:" + slacksandbox.EnterpriseID}, s.routes(conn),
		"the install key, and each member channel of the org for its reactions")
	answers = slackAnswers(t, base, slacksandbox.GridChannelEU, slacksandbox.UserErin, "Le Monde interview")
	require.Equal(t, "accepted", answers[0]["status"])
	eventually(t, 30*time.Second, "the EU message", func() bool {
		return s.count(`SELECT count(*) FROM signals WHERE tenant_id = $1 AND payload->>'title' LIKE 'Le Monde interview%'`, tenant) == 1
	})
}

// TestSlackGridOrgAndItsWorkspaceHeldByOneTenant: an org-wide install of
// an Enterprise Grid org (account E…) reaches every workspace the org
// granted, and a workspace install inside the org (account T…) reaches
// that workspace: one tenant's each, in either order. Another tenant's
// connect is refused with 409 and stores nothing; the holder re-connects;
// the workspace's events reach the holder only. Keyed on the account id
// alone, the two claims never met: both tenants backfilled the workspace
// and received its events.
func TestSlackGridOrgAndItsWorkspaceHeldByOneTenant(t *testing.T) {
	t.Parallel()
	s, _, base := slackStack(t)
	eu := map[string]any{"channels": []string{slacksandbox.GridChannelEU}}
	refused := func(key, tenant, login string) {
		t.Helper()
		for _, cfg := range []map[string]any{eu, {}} {
			code, body := s.connectAs(key, "slack", login, cfg)
			require.Equal(t, http.StatusConflict, code, body)
			require.Contains(t, body, "already connected to Poblysh by another organisation")
		}
		require.Zero(t, s.count(`SELECT count(*) FROM connections WHERE tenant_id = $1`, tenant), "a refused connect stores nothing")
		require.Zero(t, s.count(`SELECT count(*) FROM account_claims WHERE tenant_id = $1`, tenant), "nor claims anything")
	}
	connected := func(key, login string) string {
		t.Helper()
		code, body := s.connectAs(key, "slack", login, eu)
		require.Equal(t, http.StatusOK, code, body)
		return string(*connectionOf(t, body).ID)
	}
	// Only the holder stores the workspace's new message.
	onlyHolderHears := func(holder string, others []string, text string) {
		t.Helper()
		before := s.slackChannelSignals(holder, slacksandbox.GridChannelEU)
		answers := slackAnswers(t, base, slacksandbox.GridChannelEU, slacksandbox.UserErin, text)
		require.Len(t, answers, 1)
		require.EqualValues(t, 1, answers[0]["connections"], "%v", answers[0])
		require.Equal(t, before+1, s.slackChannelSignals(holder, slacksandbox.GridChannelEU))
		for _, o := range others {
			require.Zero(t, s.slackChannelSignals(o, slacksandbox.GridChannelEU))
		}
	}

	// The org first (Grace is an org admin), then its workspace Globex EU
	// through its member Erin.
	tenantA, keyA := s.tenant("Globex PR")
	tenantB, keyB := s.tenant("Mallory Inc")
	org := connected(keyA, slacksandbox.UserGrace)
	s.waitJobs(keyA, org, "backfill", 2, 2*time.Minute) // the channel and the org's workspaces
	routes := s.routes(org)
	refused(keyB, tenantB, slacksandbox.UserErin)
	require.Equal(t, org, connected(keyA, slacksandbox.UserGrace), "the holder re-connects")
	require.Equal(t, routes, s.routes(org))
	onlyHolderHears(tenantA, []string{tenantB}, "Embargoed: EU launch moved")

	// The org lets go; now the workspace first, then the org.
	_, err := s.client.Connections.DeleteConnection(connections.NewDeleteConnectionParams().WithID(strfmt.UUID(org)), httptransport.BearerToken(keyA))
	require.NoError(t, err)
	tenantC, keyC := s.tenant("Initech")
	ws := connected(keyB, slacksandbox.UserErin)
	s.waitJobs(keyB, ws, "backfill", 1, 2*time.Minute)
	refused(keyC, tenantC, slacksandbox.UserGrace)
	require.Equal(t, ws, connected(keyB, slacksandbox.UserErin), "the holder re-connects")
	onlyHolderHears(tenantB, []string{tenantC}, "Le Monde interview on Friday")
	require.Equal(t, []string{tenantB + " " + slacksandbox.GridTeam2ID + " {" + slacksandbox.EnterpriseID + "}"},
		s.texts(`SELECT tenant_id || ' ' || external_account_id || ' ' || within_account_ids::text FROM account_claims`),
		"the workspace's claim notes its org")
}

// TestSlackOrgInstallHearsOfItsWorkspaces: Slack names a workspace, never
// the org, in app_rate_limited (token, type, team_id, minute_rate_limited,
// api_app_id), so an org-wide install's connection routes app:<team id>
// for each workspace its own token lists with auth.teams.list, and syncs
// at once when Slack drops the events of one of them. When the org takes
// a workspace away (team_access_revoked) or gives it back
// (team_access_granted), the connection syncs at once and then routes
// exactly the workspaces it reaches, and the channels there its bot is in
// (for their reactions).
func TestSlackOrgInstallHearsOfItsWorkspaces(t *testing.T) {
	t.Parallel()
	s, _, base := slackStack(t)
	_, key := s.tenant("Globex PR")
	code, body := s.connectAs(key, "slack", slacksandbox.UserGrace, map[string]any{})
	require.Equal(t, http.StatusOK, code, body)
	conn := string(*connectionOf(t, body).ID)
	for _, j := range s.waitJobs(key, conn, "backfill", 2, 2*time.Minute) { // channels, workspaces
		require.Equal(t, models.JobStatusSucceeded, *j.Status, "%s: %s", *j.Stream, deref(j.Error))
	}
	org, hq, eu := "app:"+slacksandbox.EnterpriseID, "app:"+slacksandbox.GridTeamID, "app:"+slacksandbox.GridTeam2ID
	every := "enterprise:" + slacksandbox.EnterpriseID
	chEU, chHQ := "channel:"+slacksandbox.GridChannelEU, "channel:"+slacksandbox.GridChannelHQ
	require.Equal(t, []string{org, eu, hq, chEU, chHQ, every}, s.routes(conn))

	rateLimited := func(team string) string {
		t.Helper()
		got := sandboxStatuses(t, control(t, "POST", base+"/_sandbox/slack/app-rate-limited", map[string]any{"team_id": team}))
		require.Len(t, got, 1)
		return got[0]
	}

	// Slack dropped events of Globex EU: the org's connection syncs every
	// stream at once. (Slack sends one a minute per workspace, and its
	// delivery id says which: another one for EU this minute would be a
	// duplicate.)
	require.Equal(t, "accepted", rateLimited(slacksandbox.GridTeam2ID))
	for _, j := range s.waitJobs(key, conn, "incremental", 2, time.Minute) {
		require.Equal(t, models.JobTriggerWebhook, *j.Trigger, "%s", *j.Stream)
		require.Equal(t, models.JobStatusSucceeded, *j.Status, "%s: %s", *j.Stream, deref(j.Error))
	}
	require.Equal(t, "unroutable", rateLimited(slacksandbox.DefaultTeamID), "a workspace outside the org")

	// The org takes Globex HQ away from the app, then gives it back.
	access := func(granted bool) string {
		t.Helper()
		got := sandboxStatuses(t, control(t, "POST", base+"/_sandbox/slack/team-access", map[string]any{"team_id": slacksandbox.GridTeamID, "granted": granted}))
		require.Len(t, got, 1)
		return got[0]
	}
	require.Equal(t, "accepted", access(false))
	eventually(t, time.Minute, "the workspace no longer routed", func() bool { return slices.Equal([]string{org, eu, chEU, every}, s.routes(conn)) })
	require.Equal(t, "unroutable", rateLimited(slacksandbox.GridTeamID), "Globex HQ's news no longer reaches the org's connection")
	require.Equal(t, "accepted", access(true))
	eventually(t, time.Minute, "the workspace routed again", func() bool { return slices.Equal([]string{org, eu, hq, chEU, chHQ, every}, s.routes(conn)) })
}

// sandboxStatuses returns the intake status of each delivery a Slack
// sandbox control call made.
func sandboxStatuses(t *testing.T, out map[string]any) []string {
	t.Helper()
	var got []string
	dels, _ := out["deliveries"].([]any)
	for _, d := range dels {
		dm := d.(map[string]any)
		require.EqualValues(t, http.StatusOK, dm["status"], "%v", dm)
		var ans struct {
			Status string `json:"status"`
		}
		require.NoError(t, json.Unmarshal([]byte(dm["body"].(string)), &ans), "%v", dm)
		got = append(got, ans.Status)
	}
	return got
}

// TestSlackSharedPrivateChannelKeepsRouting: a configured legacy private
// channel (G…) is shared through Slack Connect, which changes its id for
// good (channel_id_changed). The connection follows it: once its own
// token lists the bot in the new channel, the config (as GET /connections
// shows it), the resource, the route and the cursor move to the new id,
// the channel's events reach it, and its history is not stored again.
func TestSlackSharedPrivateChannelKeepsRouting(t *testing.T) {
	t.Parallel()
	s, sl, base := slackStack(t)
	tenant, key := s.tenant("Acme")
	const oldID, newID = "G012Y48650T", "C012Y48650T"
	require.NoError(t, sl.AddChannel(slacksandbox.DefaultTeamID, oldID, "launch-war-room", true, true))
	for _, text := range []string{"Embargo holds until Tuesday", "Draft statement is in the doc"} {
		_, err := sl.PostMessage(slacksandbox.MessageInput{Channel: oldID, User: slacksandbox.UserBob, Text: text})
		require.NoError(t, err)
	}
	code, body := s.connectAs(key, "slack", slacksandbox.UserAlice, map[string]any{"channels": []string{slacksandbox.ChannelGeneral, oldID}})
	require.Equal(t, http.StatusOK, code, body)
	conn := string(*connectionOf(t, body).ID)
	js := s.waitJobs(key, conn, "backfill", 2, 2*time.Minute)
	for _, j := range js {
		require.Equal(t, models.JobStatusSucceeded, *j.Status, "%s: %s", *j.Stream, deref(j.Error))
	}
	require.EqualValues(t, slacksandbox.GeneralSignals+2, stored(js))
	require.Equal(t, []string{"app:" + slacksandbox.DefaultTeamID, "channel:" + slacksandbox.ChannelGeneral, "channel:" + oldID}, s.routes(conn))

	// Shared: Slack tells the app, and the connection moves to the new id.
	require.Equal(t, []string{"accepted"}, sandboxStatuses(t, control(t, "POST", base+"/_sandbox/slack/channels/"+oldID+"/share", map[string]any{})),
		"channel_id_changed reaches the connection that routes the old id")
	want := []string{"app:" + slacksandbox.DefaultTeamID, "channel:" + newID, "channel:" + slacksandbox.ChannelGeneral}
	eventually(t, time.Minute, "the route to move to the new id", func() bool { return slices.Equal(want, s.routes(conn)) })
	c := s.connection(key, conn)
	require.JSONEq(t, `{"channels":["`+newID+`","`+slacksandbox.ChannelGeneral+`"]}`, string(mustJSON(t, c.Config)),
		"the config names the new id")
	res, err := s.client.Connections.ListConnections(connections.NewListConnectionsParams(), httptransport.BearerToken(key))
	require.NoError(t, err)
	require.Len(t, res.Payload.Connections, 1)
	require.JSONEq(t, `{"channels":["`+newID+`","`+slacksandbox.ChannelGeneral+`"]}`, string(mustJSON(t, res.Payload.Connections[0].Config)))
	require.Equal(t, []string{newID + ":granted", slacksandbox.ChannelGeneral + ":granted"}, s.resources(conn))
	require.Equal(t, []string{"history:" + newID, "history:" + slacksandbox.ChannelGeneral}, s.cursors(conn), "the cursor moved with the channel")

	// The channel's events reach the connection, and its sync reads what
	// came after the old id's cursor: nothing is stored twice.
	answers := slackAnswers(t, base, newID, slacksandbox.UserCarol, "Shared with our agency")
	require.Len(t, answers, 1)
	require.Equal(t, "accepted", answers[0]["status"])
	require.EqualValues(t, 1, answers[0]["connections"])
	for _, j := range s.sync(key, "slack", conn, "incremental") {
		require.Equal(t, models.JobStatusSucceeded, *j.Status, "%s: %s", *j.Stream, deref(j.Error))
		require.Zero(t, *j.SignalsStored, "%s", *j.Stream)
	}
	require.Equal(t, 2, s.slackChannelSignals(tenant, oldID))
	require.Equal(t, 1, s.slackChannelSignals(tenant, newID))
	require.Zero(t, s.count(`SELECT count(*) FROM (SELECT payload->'attributes'->>'ts' FROM signals WHERE tenant_id = $1 AND kind = 'message.posted'
		GROUP BY 1 HAVING count(*) > 1) d`, tenant), "no message stored twice")
	require.EqualValues(t, "healthy", *s.connection(key, conn).Health)
}

// TestSlackSharedPrivateChannelEveryChannel: a connection reading every
// channel of the bot hears of a legacy private channel shared through
// Slack Connect (channel_id_changed, routed by its install), and its sync
// reads the channel under its new id from where the old id's cursor
// stood: the channel's history is not stored a second time.
func TestSlackSharedPrivateChannelEveryChannel(t *testing.T) {
	t.Parallel()
	s, sl, base := slackStack(t)
	tenant, key := s.tenant("Acme")
	const oldID, newID = "G0LAUNCH02", "C0LAUNCH02"
	require.NoError(t, sl.AddChannel(slacksandbox.DefaultTeamID, oldID, "agency-brief", true, true))
	for _, text := range []string{"Brief for the agency", "Budget attached"} {
		_, err := sl.PostMessage(slacksandbox.MessageInput{Channel: oldID, User: slacksandbox.UserBob, Text: text})
		require.NoError(t, err)
	}
	code, body := s.connectAs(key, "slack", slacksandbox.UserAlice, map[string]any{})
	require.Equal(t, http.StatusOK, code, body)
	conn := string(*connectionOf(t, body).ID)
	js := s.waitJobs(key, conn, "backfill", 1, 2*time.Minute)
	require.Equal(t, models.JobStatusSucceeded, *js[0].Status, deref(js[0].Error))
	require.EqualValues(t, slacksandbox.GeneralSignals+slacksandbox.PressSignals+2, stored(js))

	require.Equal(t, []string{"accepted"}, sandboxStatuses(t, control(t, "POST", base+"/_sandbox/slack/channels/"+oldID+"/share", map[string]any{})),
		"channel_id_changed reaches the connection reading every channel by its install")
	for _, j := range s.waitJobs(key, conn, "incremental", 1, time.Minute) {
		require.Equal(t, models.JobTriggerWebhook, *j.Trigger)
		require.Equal(t, models.JobStatusSucceeded, *j.Status, deref(j.Error))
		require.Zero(t, *j.SignalsStored, "the channel's history is not read again under its new id")
	}
	answers := slackAnswers(t, base, newID, slacksandbox.UserCarol, "Agency replied")
	require.Equal(t, "accepted", answers[0]["status"])
	for _, j := range s.sync(key, "slack", conn, "incremental") {
		require.Equal(t, models.JobStatusSucceeded, *j.Status, "%s: %s", *j.Stream, deref(j.Error))
		require.Zero(t, *j.SignalsStored, "the message after the share came by event")
	}
	require.Equal(t, 2, s.slackChannelSignals(tenant, oldID))
	require.Equal(t, 1, s.slackChannelSignals(tenant, newID))
	require.Zero(t, s.count(`SELECT count(*) FROM (SELECT payload->'attributes'->>'ts' FROM signals WHERE tenant_id = $1 AND kind = 'message.posted'
		GROUP BY 1 HAVING count(*) > 1) d`, tenant), "no message stored twice")
	require.EqualValues(t, "healthy", *s.connection(key, conn).Health)
}

// resources lists a connection's resources as ref:access, by ref.
func (s *stack) resources(connID string) []string {
	s.t.Helper()
	return s.texts(`SELECT ref || ':' || access FROM connection_resources WHERE connection_id = $1 ORDER BY ref`, connID)
}

// cursors lists the streams a connection has a cursor row for.
func (s *stack) cursors(connID string) []string {
	s.t.Helper()
	return s.texts(`SELECT stream FROM sync_cursors WHERE connection_id = $1 ORDER BY stream`, connID)
}

// TestSlackGroupDMReactionStoresNothing: Slack's reaction_added names its
// message by channel and ts only, no channel_type, and a group DM's id
// starts with G like a legacy private channel's. A connection reading
// every channel routes each channel its bot's listing names, and a
// reaction is routed by its channel only: one in a group DM with the bot
// reaches no connection and stores nothing, one in a member channel is
// stored.
func TestSlackGroupDMReactionStoresNothing(t *testing.T) {
	t.Parallel()
	s, _, base := slackStack(t)
	tenant, key := s.tenant("Acme")
	code, body := s.connectAs(key, "slack", slacksandbox.UserAlice, map[string]any{})
	require.Equal(t, http.StatusOK, code, body)
	conn := string(*connectionOf(t, body).ID)
	for _, j := range s.waitJobs(key, conn, "backfill", 1, 2*time.Minute) {
		require.Equal(t, models.JobStatusSucceeded, *j.Status, "%s: %s", *j.Stream, deref(j.Error))
	}
	require.Equal(t, []string{"app:" + slacksandbox.DefaultTeamID, "channel:" + slacksandbox.ChannelGeneral,
		"channel:" + slacksandbox.ChannelPress, "team:" + slacksandbox.DefaultTeamID}, s.routes(conn),
		"the install, and each channel the bot is in (never its group DMs)")

	posted := control(t, "POST", base+"/_sandbox/slack/messages", map[string]any{"channel": slacksandbox.GroupDM, "user": slacksandbox.UserBob, "text": "lunch?"})
	ts := posted["event"].(map[string]any)["ts"].(string)
	react := func(channel, ts string) string {
		t.Helper()
		out := control(t, "POST", base+"/_sandbox/slack/reactions", map[string]any{"channel": channel, "ts": ts, "user": slacksandbox.UserCarol, "reaction": "taco"})
		item := out["event"].(map[string]any)["item"].(map[string]any)
		require.NotContains(t, item, "channel_type", "as Slack documents reaction_added")
		got := sandboxStatuses(t, out)
		require.Len(t, got, 1)
		return got[0]
	}
	require.Equal(t, "unroutable", react(slacksandbox.GroupDM, ts), "a group DM's reaction")
	require.Zero(t, s.slackChannelSignals(tenant, slacksandbox.GroupDM))

	general := control(t, "POST", base+"/_sandbox/slack/messages", map[string]any{"channel": slacksandbox.ChannelGeneral, "text": "launch day"})
	require.Equal(t, "accepted", react(slacksandbox.ChannelGeneral, general["event"].(map[string]any)["ts"].(string)), "a member channel's reaction")
	eventually(t, 30*time.Second, "the channel's reaction", func() bool {
		return s.count(`SELECT count(*) FROM signals WHERE tenant_id = $1 AND kind = 'reaction.added' AND payload->'attributes'->>'reaction' = 'taco'`, tenant) == 1
	})
	require.Zero(t, s.slackChannelSignals(tenant, slacksandbox.GroupDM))
}
