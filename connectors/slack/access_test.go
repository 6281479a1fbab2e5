package slack

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/poblysh/poblysh/connectors"
	slacksandbox "github.com/poblysh/poblysh/sandbox/slack"
)

// connectAs installs the app approved by user (the sandbox decides the
// install from who approves: an org admin installs org-wide).
func (f *fake) connectAs(t *testing.T, user string, channels ...string) (connectors.Connection, *oauth2.Token) {
	t.Helper()
	ctx := context.Background()
	code := f.authorize(t, oauth2.SetAuthURLParam("login", user))
	tok, err := f.conn.Exchange(ctx, connectors.ExchangeRequest{Code: code, RedirectURL: testCallback})
	require.NoError(t, err)
	acct, err := f.conn.Identify(ctx, tok, f.client(""))
	require.NoError(t, err)
	raw, _ := json.Marshal(map[string][]string{"channels": channels})
	cfg, err := f.conn.ValidateConfig(raw)
	require.NoError(t, err)
	return connectors.Connection{ID: "conn-" + user, TenantID: "tenant-1", Account: acct, Config: cfg}, tok
}

func (f *fake) prove(t *testing.T, conn connectors.Connection, tok *oauth2.Token, only ...string) *connectors.AccessReport {
	t.Helper()
	report, err := f.conn.ProveAccess(context.Background(), connectors.AccessRequest{Connection: conn, HTTP: fastClient(tok.AccessToken), Only: only})
	require.NoError(t, err)
	return report
}

func TestProveAccessWorkspace(t *testing.T) {
	t.Parallel()
	f := newFake(t, slacksandbox.Options{}, nil)
	conn, tok := f.connect(t, slacksandbox.ChannelGeneral, slacksandbox.ChannelPress, slacksandbox.ChannelRandom, slacksandbox.OtherChannel)

	report := f.prove(t, conn, tok)
	require.Equal(t, []connectors.Resource{
		{Ref: slacksandbox.ChannelGeneral, ID: slacksandbox.ChannelGeneral, Name: "#general", RouteKeys: []string{"channel:" + slacksandbox.ChannelGeneral}},
		{Ref: slacksandbox.ChannelPress, ID: slacksandbox.ChannelPress, Name: "#press-room", RouteKeys: []string{"channel:" + slacksandbox.ChannelPress}},
	}, report.Granted, "public and private channels the bot is in")
	require.Equal(t, []string{slacksandbox.ChannelRandom, slacksandbox.OtherChannel}, report.DeniedRefs(),
		"a channel without the bot, and another workspace's channel")
	for _, d := range report.Denied {
		require.ErrorIs(t, d.Err, connectors.ErrForbidden)
		require.Contains(t, d.Reason, "not a member")
	}
	require.Contains(t, report.Error(), slacksandbox.ChannelRandom)

	only := f.prove(t, conn, tok, slacksandbox.ChannelPress)
	require.Len(t, only.Granted, 1)
	require.Empty(t, only.Denied, "Only restricts the proof")

	// Membership is read with users.conversations, never by walking
	// conversations.list over every channel of the workspace.
	var methods []string
	for _, r := range f.sb.Requests() {
		methods = append(methods, r.Method)
		if r.Method == "users.conversations" {
			require.Equal(t, "public_channel,private_channel", r.Params.Get("types"))
			require.Empty(t, r.Params.Get("exclude_archived"), "an archived channel's history stays readable: it may be configured")
		}
	}
	require.Contains(t, methods, "users.conversations")
	require.NotContains(t, methods, "conversations.list")

	every := conn
	every.Config = json.RawMessage(`{"channels":[]}`)
	require.Equal(t, &connectors.AccessReport{Granted: []connectors.Resource{{Ref: "channels", ID: slacksandbox.DefaultTeamID, Name: slacksandbox.DefaultTeamName,
		RouteKeys: []string{"channel:" + slacksandbox.ChannelGeneral, "channel:" + slacksandbox.ChannelPress}}}}, f.prove(t, every, tok),
		"no configured channel: the bot's channels, each routed")
	reqs := f.sb.Requests()
	last := reqs[len(reqs)-1]
	require.Equal(t, "users.conversations", last.Method)
	require.Equal(t, "true", last.Params.Get("exclude_archived"), "archived channels are left out, as the channels stream leaves them out of its routes")

	require.NoError(t, f.sb.SetBotMembership(slacksandbox.ChannelGeneral, false))
	require.Equal(t, []string{slacksandbox.ChannelGeneral}, f.prove(t, conn, tok, slacksandbox.ChannelGeneral).DeniedRefs(), "the bot left")
}

func TestProveAccessPaginates(t *testing.T) {
	t.Parallel()
	f := newFake(t, slacksandbox.Options{}, nil)
	for i := range listPageSize + 5 {
		require.NoError(t, f.sb.AddChannel(slacksandbox.DefaultTeamID, fmt.Sprintf("C09BULK%04d", i), fmt.Sprintf("bulk-%d", i), false, true))
	}
	last := fmt.Sprintf("C09BULK%04d", listPageSize+4)
	conn, tok := f.connect(t, last)
	report := f.prove(t, conn, tok)
	require.Equal(t, []string{last}, refsOf(report.Granted), "found on the second users.conversations page")
	calls := 0
	for _, r := range f.sb.Requests() {
		if r.Method == "users.conversations" {
			calls++
		}
	}
	require.Equal(t, 2, calls)
}

func refsOf(rs []connectors.Resource) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Ref)
	}
	return out
}

func TestOrgInstall(t *testing.T) {
	t.Parallel()
	f := newFake(t, slacksandbox.Options{Seed: true}, map[string]string{"POBLYSH_SLACK_PAGE_SIZE": "1"})
	conn, tok := f.connectAs(t, slacksandbox.UserGrace, slacksandbox.GridChannelEU, slacksandbox.GridChannelHQ, slacksandbox.GridChannelBoard, slacksandbox.ChannelGeneral)

	require.Equal(t, slacksandbox.EnterpriseID, conn.Account.ID, "an org-wide install is identified by its enterprise")
	require.Equal(t, slacksandbox.EnterpriseName, conn.Account.Name)
	require.Equal(t, "true", conn.Account.Metadata["enterprise_install"])
	require.Equal(t, slacksandbox.EnterpriseBotUserID, conn.Account.Metadata["bot_user_id"])
	require.Nil(t, tok.Extra("team"), "Slack answers team: null")

	report := f.prove(t, conn, tok)
	require.Equal(t, []string{slacksandbox.GridChannelEU, slacksandbox.GridChannelHQ, "workspaces"}, refsOf(report.Granted),
		"member channels of every workspace the org granted, and those workspaces")
	require.Equal(t, []string{slacksandbox.ChannelGeneral, slacksandbox.GridChannelBoard}, report.DeniedRefs(), "another workspace's channel, and one without the bot")

	keys, err := f.conn.RouteKeys(conn)
	require.NoError(t, err)
	require.Equal(t, []string{"app:" + slacksandbox.EnterpriseID}, keys)
	streams, err := f.conn.Streams(conn)
	require.NoError(t, err)
	require.Len(t, streams, 5)
	require.Equal(t, "workspaces", streams[4], "an org-wide install reads its workspaces too")

	// History with the org token; the "channels" stream lists the granted
	// workspaces, then each one's member channels.
	hc := fastClient(tok.AccessToken)
	sigs, _, _ := f.drain(t, conn, hc, "history:"+slacksandbox.GridChannelHQ, nil)
	require.Len(t, sigs, slacksandbox.GridHQSignals)
	every := conn
	every.Config = json.RawMessage(`{"channels":[]}`)
	sigs, cursor, _ := f.drain(t, every, hc, "channels", nil)
	require.Len(t, sigs, slacksandbox.GridHQSignals+slacksandbox.GridEUSignals)
	var cur membersCursor
	require.NoError(t, json.Unmarshal(cursor, &cur))
	require.ElementsMatch(t, []string{slacksandbox.GridChannelEU, slacksandbox.GridChannelHQ}, keysOf(cur.Channels))
	require.False(t, cur.Listing)
	require.Empty(t, cur.Teams)

	// A workspace install inside the org stays a workspace account.
	ws, _ := f.connectAs(t, slacksandbox.UserErin)
	require.Equal(t, slacksandbox.GridTeam2ID, ws.Account.ID)
	require.Equal(t, slacksandbox.EnterpriseID, ws.Account.Metadata["enterprise_id"])
	require.Empty(t, ws.Account.Metadata["enterprise_install"])
}

func keysOf[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestIdentifyOrgInstallWithAuthTest: a token without install extras is
// identified with auth.test, which names an org-wide install too.
func TestIdentifyOrgInstallWithAuthTest(t *testing.T) {
	t.Parallel()
	f := newFake(t, slacksandbox.Options{}, nil)
	ts, err := f.sb.InstallAs(slacksandbox.UserGrace)
	require.NoError(t, err)
	acct, err := f.conn.Identify(context.Background(), &oauth2.Token{AccessToken: ts.AccessToken}, f.client(ts.AccessToken))
	require.NoError(t, err)
	require.Equal(t, slacksandbox.EnterpriseID, acct.ID)
	require.Equal(t, "true", acct.Metadata["enterprise_install"])
}

// TestHistoryOfALeftChannelIsAccessLost: a history:<channel> stream whose
// bot left the channel fails with ErrForbidden (public) or ErrNotFound
// (private), which the engine records as access lost for that channel.
func TestHistoryOfALeftChannelIsAccessLost(t *testing.T) {
	t.Parallel()
	f := newFake(t, slacksandbox.Options{Seed: true}, nil)
	conn, tok := f.connect(t, slacksandbox.ChannelGeneral, slacksandbox.ChannelPress)
	hc := fastClient(tok.AccessToken)
	require.NoError(t, f.sb.SetBotMembership(slacksandbox.ChannelGeneral, false))
	require.NoError(t, f.sb.SetBotMembership(slacksandbox.ChannelPress, false))
	_, err := f.fetch(t, conn, hc, "history:"+slacksandbox.ChannelGeneral, nil)
	require.ErrorIs(t, err, connectors.ErrForbidden)
	_, err = f.fetch(t, conn, hc, "history:"+slacksandbox.ChannelPress, nil)
	require.ErrorIs(t, err, connectors.ErrNotFound)
	ref, ok := f.conn.StreamResource("history:" + slacksandbox.ChannelPress)
	require.True(t, ok)
	require.Equal(t, slacksandbox.ChannelPress, ref)
}

// TestOrgInstallHearsOfItsWorkspaces: Slack names a workspace, never the
// org, in app_rate_limited (its documented payload: token, type, team_id,
// minute_rate_limited, api_app_id), so an org-wide install's connection
// routes app:<team id> for each workspace its own token lists with
// auth.teams.list: the "workspaces" resource, proved at connect and read
// again by the "workspaces" stream, which team_access_granted and
// team_access_revoked start at once.
func TestOrgInstallHearsOfItsWorkspaces(t *testing.T) {
	t.Parallel()
	f := newFake(t, slacksandbox.Options{Seed: true}, nil)
	conn, tok := f.connectAs(t, slacksandbox.UserGrace)
	hc := fastClient(tok.AccessToken)
	// What the engine routes: the connector's static keys and the route
	// keys of every resource the connection's proof granted.
	routes := func(granted []connectors.Resource) []string {
		keys, err := f.conn.RouteKeys(conn)
		require.NoError(t, err)
		for _, r := range granted {
			keys = append(keys, r.RouteKeys...)
		}
		return keys
	}
	reaches := func(keys []string, body string) bool {
		d, err := parseDelivery([]byte(body))
		require.NoError(t, err)
		require.True(t, d.Notify)
		for _, k := range d.RouteKeys {
			if slices.Contains(keys, k) {
				return true
			}
		}
		return false
	}
	rateLimited := func(team string) string {
		return `{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","type":"app_rate_limited","team_id":"` + team + `","minute_rate_limited":1518467820,"api_app_id":"A123456"}`
	}

	report := f.prove(t, conn, tok)
	require.Equal(t, []connectors.Resource{
		{Ref: "channels", ID: slacksandbox.EnterpriseID, Name: slacksandbox.EnterpriseName,
			RouteKeys: []string{"channel:" + slacksandbox.GridChannelEU, "channel:" + slacksandbox.GridChannelHQ}},
		{Ref: "workspaces", ID: slacksandbox.EnterpriseID, Name: slacksandbox.EnterpriseName,
			RouteKeys: []string{"app:" + slacksandbox.GridTeam2ID, "app:" + slacksandbox.GridTeamID}}}, report.Granted,
		"no channel configured: the bot's channels in every granted workspace, and the org's workspaces")
	keys := routes(report.Granted)
	require.True(t, reaches(keys, rateLimited(slacksandbox.GridTeamID)), "app_rate_limited of a workspace of the org, keys %v", keys)
	require.True(t, reaches(keys, rateLimited(slacksandbox.GridTeam2ID)))
	require.False(t, reaches(keys, rateLimited(slacksandbox.DefaultTeamID)), "not a workspace of the org")
	require.False(t, reaches(keys, rateLimited(slacksandbox.OtherTeamID)))
	rl, err := f.sb.AppRateLimited(slacksandbox.GridTeamID)
	require.NoError(t, err)
	require.True(t, reaches(keys, string(rl.Body)), "the sandbox's app_rate_limited too")
	workspace, _ := f.connectAs(t, slacksandbox.UserErin)
	require.Equal(t, []string{"channels", "workspaces"}, mustRefs(t, f.conn, conn))
	require.Equal(t, []string{"channels"}, mustRefs(t, f.conn, workspace), "a workspace install has no workspaces resource")
	streams, err := f.conn.Streams(workspace)
	require.NoError(t, err)
	require.Equal(t, []string{"channels"}, streams)

	// The org takes HQ away: Slack says so, the connection syncs, and its
	// workspaces stream shows the resource without HQ (the engine records
	// it and routes it so). Giving it back routes it again.
	ref, ok := f.conn.StreamResource("workspaces")
	require.True(t, ok)
	require.Equal(t, "workspaces", ref)
	for _, granted := range []bool{false, true} {
		ev, err := f.sb.SetTeamAccess(slacksandbox.GridTeamID, granted)
		require.NoError(t, err)
		d, err := parseDelivery(ev.Body)
		require.NoError(t, err)
		require.True(t, d.Notify)
		require.Equal(t, []string{"app:" + slacksandbox.EnterpriseID}, d.RouteKeys)
		require.Equal(t, ev.Type, d.Event)
		_, cursor, pages := f.drain(t, conn, hc, "workspaces", nil)
		require.Equal(t, 1, pages)
		require.JSONEq(t, `{"v":1}`, string(cursor), "each pass lists them anew")
		page, err := f.fetch(t, conn, hc, "workspaces", cursor)
		require.NoError(t, err)
		require.True(t, page.Done)
		require.Empty(t, page.Signals)
		require.NotNil(t, page.Resource)
		want := []string{"app:" + slacksandbox.GridTeam2ID}
		if granted {
			want = append(want, "app:"+slacksandbox.GridTeamID)
		}
		require.Equal(t, want, page.Resource.RouteKeys)
		require.Equal(t, granted, reaches(routes([]connectors.Resource{*page.Resource}), rateLimited(slacksandbox.GridTeamID)))
	}
	_, err = f.fetch(t, workspace, fastClient(tok.AccessToken), "workspaces", nil)
	require.ErrorIs(t, err, connectors.ErrInvalidConfig, "a workspace install has no workspaces stream")
}

// TestWorkspacesStreamPaginates: more workspaces than one auth.teams.list
// page hold are shown once, on the last page.
func TestWorkspacesStreamPaginates(t *testing.T) {
	t.Parallel()
	var calls int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.Equal(t, "/api/auth.teams.list", r.URL.Path)
		require.NoError(t, r.ParseForm())
		calls++
		w.Header().Set("Content-Type", "application/json")
		if r.Form.Get("cursor") == "" {
			_, _ = w.Write([]byte(`{"ok":true,"teams":[{"id":"T2","name":"Two"},{"id":"T1","name":"One"}],"response_metadata":{"next_cursor":"dGVhbTp0Mw=="}}`))
			return
		}
		require.Equal(t, "dGVhbTp0Mw==", r.Form.Get("cursor"))
		_, _ = w.Write([]byte(`{"ok":true,"teams":[{"id":"T3","name":"Three"},{"id":"T1","name":"One"}],"response_metadata":{"next_cursor":""}}`))
	}))
	t.Cleanup(srv.Close)
	p := newProvider(t, map[string]string{"POBLYSH_SLACK_CLIENT_ID": "id", "POBLYSH_SLACK_CLIENT_SECRET": "secret", "POBLYSH_SLACK_API_URL": srv.URL + "/api/"})
	c := p.Connector.(*Connector)
	conn := connectors.Connection{Account: connectors.Account{ID: "E1", Name: "Org", Metadata: map[string]string{"enterprise_install": "true", "enterprise_id": "E1"}}}
	req := connectors.PageRequest{Connection: conn, Stream: "workspaces", HTTP: fastClient("xoxb-org"), Now: time.Now()}
	first, err := c.FetchPage(context.Background(), req)
	require.NoError(t, err)
	require.False(t, first.Done)
	require.Nil(t, first.Resource, "not before every page is read")
	require.Equal(t, 2, first.Items)
	req.Cursor = first.Next
	last, err := c.FetchPage(context.Background(), req)
	require.NoError(t, err)
	require.True(t, last.Done)
	require.Equal(t, &connectors.Resource{Ref: "workspaces", ID: "E1", Name: "Org", RouteKeys: []string{"app:T1", "app:T2", "app:T3"}}, last.Resource)
	require.Equal(t, 2, calls)
}

func mustRefs(t *testing.T, c *Connector, conn connectors.Connection) []string {
	t.Helper()
	refs, err := c.ResourceRefs(conn)
	require.NoError(t, err)
	return refs
}

// TestGroupDMReactionReachesNoConnection: Slack's documented
// reaction_added item has type, channel and ts, no channel_type
// (https://docs.slack.dev/reference/events/reaction_added/), and a group
// DM's id starts with G (https://api.slack.com/types/mpim), like a legacy
// private channel's. A connection reading every channel routes the
// channels its own token lists (users.conversations: public and private
// channels, never group DMs), and reactions are routed by their channel
// only: a group DM's reaction reaches it no more than another's channel's,
// and those of its channels, legacy private ones included, do.
func TestGroupDMReactionReachesNoConnection(t *testing.T) {
	t.Parallel()
	f := newFake(t, slacksandbox.Options{Seed: true}, nil)
	conn, tok := f.connectAs(t, slacksandbox.UserAlice)
	conn.Config = json.RawMessage(`{"channels":[]}`)
	const legacy = "G0LEGACY01"
	require.NoError(t, f.sb.AddChannel(slacksandbox.DefaultTeamID, legacy, "legacy-private", true, true))
	keys, err := f.conn.RouteKeys(conn)
	require.NoError(t, err)
	for _, r := range f.prove(t, conn, tok).Granted {
		keys = append(keys, r.RouteKeys...)
	}
	reaction := func(channel string) string {
		return `{"token":"XXYYZZ","team_id":"` + slacksandbox.DefaultTeamID + `","api_app_id":"A123ABC456","event":{"type":"reaction_added",` +
			`"user":"U123ABC456","reaction":"thumbsup","item_user":"U222222222","item":{"type":"message","channel":"` + channel + `","ts":"1360782400.498405"},` +
			`"event_ts":"1360782804.083113"},"type":"event_callback","authorizations":[{"team_id":"` + slacksandbox.DefaultTeamID + `","user_id":"U0BOT",` +
			`"is_bot":true,"is_enterprise_install":false}],"event_id":"Ev123ABC456","event_time":1360782804}`
	}
	reaches := func(channel string) bool {
		d, err := parseDelivery([]byte(reaction(channel)))
		require.NoError(t, err)
		require.Len(t, d.Signals, 1, "read as a channel's reaction: %s", channel)
		return slices.ContainsFunc(d.RouteKeys, func(k string) bool { return slices.Contains(keys, k) })
	}
	require.False(t, reaches("G024BE91L"), "a group DM with the bot (Slack's mpim example id), routes %v", keys)
	require.False(t, reaches(slacksandbox.ChannelRandom), "a channel without the bot")
	require.True(t, reaches(slacksandbox.ChannelGeneral), "a public channel of the bot")
	require.True(t, reaches(slacksandbox.ChannelPress), "a private channel of the bot")
	require.True(t, reaches(legacy), "a legacy private channel (G…) of the bot")

	// The channels stream lists them again on every pass and shows them as
	// listed on the listing's last page, once (the engine records and
	// routes them so): a channel the bot left is no longer routed.
	ref, ok := f.conn.StreamResource("channels")
	require.True(t, ok)
	require.Equal(t, "channels", ref)
	require.NoError(t, f.sb.SetBotMembership(slacksandbox.ChannelGeneral, false))
	hc := fastClient(tok.AccessToken)
	var shown []*connectors.Resource
	var cursor json.RawMessage
	for range 100 {
		page, err := f.fetch(t, conn, hc, "channels", cursor)
		require.NoError(t, err)
		if page.Resource != nil {
			shown = append(shown, page.Resource)
		}
		if cursor = page.Next; page.Done {
			break
		}
	}
	require.Equal(t, []*connectors.Resource{{Ref: "channels", ID: slacksandbox.DefaultTeamID, Name: slacksandbox.DefaultTeamName,
		RouteKeys: []string{"channel:" + slacksandbox.ChannelPress, "channel:" + legacy}}}, shown)
}
