package slacksandbox

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// installAs returns a bot token installed by user.
func (f *fixture) installAs(t *testing.T, user string) string {
	t.Helper()
	ts, err := f.s.InstallAs(user)
	require.NoError(t, err)
	return ts.AccessToken
}

func channelIDs(t *testing.T, ans map[string]any) []string {
	t.Helper()
	require.Equal(t, true, ans["ok"], "%v", ans)
	var out []string
	for _, c := range ans["channels"].([]any) {
		cm := c.(map[string]any)
		require.NotContains(t, cm, "is_member", "users.conversations omits is_member")
		out = append(out, cm["id"].(string))
	}
	return out
}

func TestInstallShapes(t *testing.T) {
	f := setup(t, Options{})
	exchange := func(login string) map[string]any {
		code := f.authorize(t, url.Values{"login": {login}}).Get("code")
		return f.access(t, f.s.Options().ClientID, f.s.Options().ClientSecret, url.Values{"code": {code}, "redirect_uri": {redirect}})
	}
	org := exchange(UserGrace)
	require.Equal(t, true, org["ok"], "%v", org)
	require.Nil(t, org["team"], "an org-wide install has no team")
	require.Equal(t, map[string]any{"id": EnterpriseID, "name": EnterpriseName}, org["enterprise"])
	require.Equal(t, true, org["is_enterprise_install"])
	require.Equal(t, EnterpriseBotUserID, org["bot_user_id"])

	inGrid := exchange(UserErin)
	require.Equal(t, map[string]any{"id": GridTeam2ID, "name": GridTeam2Name}, inGrid["team"])
	require.Equal(t, map[string]any{"id": EnterpriseID, "name": EnterpriseName}, inGrid["enterprise"])
	require.Equal(t, false, inGrid["is_enterprise_install"])

	other := exchange(UserDave)
	require.Equal(t, map[string]any{"id": OtherTeamID, "name": OtherTeamName}, other["team"])
	require.Nil(t, other["enterprise"])
	require.Equal(t, OtherBotUserID, other["bot_user_id"])

	byBob := exchange(UserBob)
	require.Equal(t, map[string]any{"id": DefaultTeamID, "name": DefaultTeamName}, byBob["team"], "any member installs on their workspace")
}

func TestUsersConversations(t *testing.T) {
	f := setup(t, Options{})
	both := url.Values{"types": {"public_channel,private_channel"}}
	require.Equal(t, []string{ChannelGeneral, ChannelPress}, channelIDs(t, f.call(t, "users.conversations", f.token, both)),
		"the bot's channels only: not #random, nor another workspace's")
	require.Equal(t, []string{ChannelGeneral}, channelIDs(t, f.call(t, "users.conversations", f.token, url.Values{})), "default types: public")

	page1 := f.call(t, "users.conversations", f.token, url.Values{"types": {"public_channel,private_channel"}, "limit": {"1"}})
	require.Equal(t, []string{ChannelGeneral}, channelIDs(t, page1))
	page2 := f.call(t, "users.conversations", f.token, url.Values{"types": {"public_channel,private_channel"}, "limit": {"1"}, "cursor": {nextCursor(page1)}})
	require.Equal(t, []string{ChannelPress}, channelIDs(t, page2))
	require.Empty(t, nextCursor(page2))

	withTeam := url.Values{"types": {"public_channel,private_channel"}, "team_id": {GridTeamID}}
	require.Equal(t, []string{ChannelGeneral, ChannelPress}, channelIDs(t, f.call(t, "users.conversations", f.token, withTeam)),
		"team_id is ignored for a workspace token")
	require.Equal(t, []string{OtherChannel}, channelIDs(t, f.call(t, "users.conversations", f.installAs(t, UserDave), both)))

	require.NoError(t, f.s.SetBotMembership(ChannelGeneral, false))
	require.Equal(t, []string{ChannelPress}, channelIDs(t, f.call(t, "users.conversations", f.token, both)))
	require.Equal(t, "not_in_channel", f.call(t, "conversations.history", f.token, url.Values{"channel": {ChannelGeneral}})["error"])
	require.NoError(t, f.s.SetBotMembership(ChannelGeneral, true))
	require.Equal(t, true, f.call(t, "conversations.history", f.token, url.Values{"channel": {ChannelGeneral}})["ok"])

	readOnly, err := f.s.Install("channels:read")
	require.NoError(t, err)
	require.Equal(t, "missing_scope", f.call(t, "users.conversations", readOnly.AccessToken, both)["error"], "private channels need groups:read")
}

func TestOrgInstallReachesItsWorkspaces(t *testing.T) {
	f := setup(t, Options{Seed: true})
	org := f.installAs(t, UserGrace)

	teams := f.call(t, "auth.teams.list", org, url.Values{})
	require.Equal(t, true, teams["ok"])
	require.Equal(t, []any{
		map[string]any{"id": GridTeam2ID, "name": GridTeam2Name},
		map[string]any{"id": GridTeamID, "name": GridTeamName},
	}, teams["teams"])
	first := f.call(t, "auth.teams.list", org, url.Values{"limit": {"1"}})
	require.Len(t, first["teams"], 1)
	rest := f.call(t, "auth.teams.list", org, url.Values{"limit": {"1"}, "cursor": {nextCursor(first)}})
	require.Equal(t, []any{map[string]any{"id": GridTeamID, "name": GridTeamName}}, rest["teams"])

	both := url.Values{"types": {"public_channel,private_channel"}}
	require.Equal(t, "missing_argument", f.call(t, "users.conversations", org, both)["error"], "org tokens must name a workspace")
	both.Set("team_id", DefaultTeamID)
	require.Equal(t, "team_access_not_granted", f.call(t, "users.conversations", org, both)["error"])
	both.Set("team_id", GridTeamID)
	require.Equal(t, []string{GridChannelHQ}, channelIDs(t, f.call(t, "users.conversations", org, both)), "not the private board channel")
	both.Set("team_id", GridTeam2ID)
	require.Equal(t, []string{GridChannelEU}, channelIDs(t, f.call(t, "users.conversations", org, both)))

	require.Len(t, tsList(t, f.call(t, "conversations.history", org, url.Values{"channel": {GridChannelEU}})), 1)
	require.Equal(t, "channel_not_found", f.call(t, "conversations.history", org, url.Values{"channel": {GridChannelBoard}})["error"])
	require.Equal(t, "channel_not_found", f.call(t, "conversations.history", org, url.Values{"channel": {ChannelGeneral}})["error"],
		"another workspace's channel does not exist for this token")
	require.Equal(t, "channel_not_found", f.call(t, "conversations.history", f.installAs(t, UserDave), url.Values{"channel": {ChannelGeneral}})["error"])

	test := f.call(t, "auth.test", org, url.Values{})
	require.Equal(t, true, test["is_enterprise_install"])
	require.Equal(t, EnterpriseID, test["enterprise_id"])
}

func TestEnvelopesNameTheirInstall(t *testing.T) {
	f, _ := withReceiver(t, Options{})
	envelope := func(channel string) map[string]any {
		ev, err := f.s.PostMessage(MessageInput{Channel: channel, User: UserGrace, Text: "hello"})
		require.NoError(t, err)
		require.True(t, ev.Deliverable)
		var env map[string]any
		require.NoError(t, json.Unmarshal(ev.Body, &env))
		return env
	}
	plain := envelope(ChannelGeneral)
	require.Equal(t, DefaultTeamID, plain["team_id"])
	require.NotContains(t, plain, "enterprise_id")
	require.Nil(t, plain["context_enterprise_id"])
	require.Equal(t, []any{map[string]any{"enterprise_id": nil, "team_id": DefaultTeamID, "user_id": BotUserID,
		"is_bot": true, "is_enterprise_install": false}}, plain["authorizations"])

	before := envelope(GridChannelHQ)
	require.Equal(t, GridTeamID, before["team_id"])
	require.Equal(t, EnterpriseID, before["enterprise_id"])
	require.Equal(t, false, before["authorizations"].([]any)[0].(map[string]any)["is_enterprise_install"])

	f.installAs(t, UserGrace)
	after := envelope(GridChannelHQ)
	require.Equal(t, GridTeamID, after["team_id"], "events carry the workspace they happened in")
	require.Equal(t, GridTeamID, after["context_team_id"])
	require.Equal(t, EnterpriseID, after["context_enterprise_id"])
	require.Equal(t, []any{map[string]any{"enterprise_id": EnterpriseID, "team_id": GridTeamID, "user_id": EnterpriseBotUserID,
		"is_bot": true, "is_enterprise_install": true}}, after["authorizations"])

	resp, err := http.Post(f.srv.URL+"/_sandbox/slack/channels/"+ChannelPress+"/membership", "application/json", strings.NewReader(`{"member":false}`))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	ev, err := f.s.PostMessage(MessageInput{Channel: ChannelPress, Text: "after the bot left"})
	require.NoError(t, err)
	require.False(t, ev.Deliverable)
	status, _ := f.control(t, "/_sandbox/slack/channels/C0NOPE0000/membership", `{"member":true}`)
	require.Equal(t, http.StatusNotFound, status)
}

// RemoveBot takes the bot out of a channel and sends it channel_left
// (group_left for a private channel) in the install's envelope; the
// channel's history then refuses the bot.
func TestRemoveBotSendsChannelLeft(t *testing.T) {
	f := setup(t, Options{Seed: true})
	ev, err := f.s.RemoveBot(ChannelGeneral, UserBob)
	require.NoError(t, err)
	require.True(t, ev.Deliverable, "sent to the bot that left")
	var env struct {
		TeamID string `json:"team_id"`
		Event  struct {
			Type    string `json:"type"`
			Channel string `json:"channel"`
			Actor   string `json:"actor_id"`
		} `json:"event"`
		Authorizations []struct {
			IsBot bool `json:"is_bot"`
		} `json:"authorizations"`
	}
	require.NoError(t, json.Unmarshal(ev.Body, &env))
	require.Equal(t, "channel_left", env.Event.Type)
	require.Equal(t, ChannelGeneral, env.Event.Channel)
	require.Equal(t, UserBob, env.Event.Actor)
	require.Equal(t, DefaultTeamID, env.TeamID)
	require.Len(t, env.Authorizations, 1)
	require.True(t, env.Authorizations[0].IsBot)
	require.Equal(t, "not_in_channel", f.call(t, "conversations.history", f.token, url.Values{"channel": {ChannelGeneral}})["error"])

	require.NoError(t, f.s.AddChannel(DefaultTeamID, "C0SECRET01", "secret", true, true))
	ev, err = f.s.RemoveBot("C0SECRET01", "")
	require.NoError(t, err)
	require.Equal(t, "group_left", ev.Type)

	_, err = f.s.RemoveBot("C0NOPE0000", "")
	require.ErrorIs(t, err, ErrNotFound)
}

// TestArchiveChannel: an archived channel stays the bot's, with its
// history readable; users.conversations and conversations.list leave it
// out only with exclude_archived=true (Slack's default is false) and
// answer is_archived: true; it takes no new message or reaction.
func TestArchiveChannel(t *testing.T) {
	f := setup(t, Options{Seed: true})
	both := url.Values{"types": {"public_channel,private_channel"}}
	before := tsList(t, f.call(t, "conversations.history", f.token, url.Values{"channel": {ChannelPress}}))
	resp, err := http.Post(f.srv.URL+"/_sandbox/slack/channels/"+ChannelPress+"/archive", "application/json", nil)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNoContent, resp.StatusCode)

	ans := f.call(t, "users.conversations", f.token, both)
	require.Equal(t, []string{ChannelGeneral, ChannelPress}, channelIDs(t, ans), "archived channels are listed by default")
	require.Equal(t, true, ans["channels"].([]any)[1].(map[string]any)["is_archived"])
	require.Equal(t, false, ans["channels"].([]any)[0].(map[string]any)["is_archived"])
	for _, v := range []string{"true", "1"} {
		q := url.Values{"types": both["types"], "exclude_archived": {v}}
		require.Equal(t, []string{ChannelGeneral}, channelIDs(t, f.call(t, "users.conversations", f.token, q)), v)
	}
	q := url.Values{"types": both["types"], "exclude_archived": {"false"}}
	require.Equal(t, []string{ChannelGeneral, ChannelPress}, channelIDs(t, f.call(t, "users.conversations", f.token, q)))
	listed := func(q url.Values) []string {
		var ids []string
		for _, c := range f.call(t, "conversations.list", f.token, q)["channels"].([]any) {
			ids = append(ids, c.(map[string]any)["id"].(string))
		}
		return ids
	}
	require.Contains(t, listed(both), ChannelPress)
	q.Set("exclude_archived", "true")
	require.NotContains(t, listed(q), ChannelPress)

	require.Equal(t, before, tsList(t, f.call(t, "conversations.history", f.token, url.Values{"channel": {ChannelPress}})),
		"an archived channel's history stays readable")
	_, err = f.s.PostMessage(MessageInput{Channel: ChannelPress, Text: "too late"})
	require.ErrorIs(t, err, ErrInvalid)
	_, err = f.s.AddReaction(ReactionInput{Channel: ChannelPress, TS: before[0], Reaction: "eyes"})
	require.ErrorIs(t, err, ErrInvalid)

	status, ans := f.control(t, "/_sandbox/slack/channels/"+ChannelPress+"/archive", ``)
	require.Equal(t, http.StatusBadRequest, status)
	require.Contains(t, ans["error"], "already_archived")
	status, ans = f.control(t, "/_sandbox/slack/channels/"+ChannelGeneral+"/archive", ``)
	require.Equal(t, http.StatusBadRequest, status)
	require.Contains(t, ans["error"], "cant_archive_general")
	status, _ = f.control(t, "/_sandbox/slack/channels/C0NOPE0000/archive", ``)
	require.Equal(t, http.StatusNotFound, status)
}

// TestTeamAccess: an org admin takes a workspace away from the org-wide
// install and gives it back. The org token stops and starts reaching it,
// its events stop and start being delivered for the org's install, and
// Slack's team_access_revoked and team_access_granted events (nested
// shape of the reference, with the org) are delivered once the org
// installed the app.
func TestTeamAccess(t *testing.T) {
	f, rc := withReceiver(t, Options{Seed: true})
	ev, err := f.s.SetTeamAccess(GridTeamID, false)
	require.NoError(t, err)
	require.False(t, ev.Deliverable, "no org-wide install yet: nobody to tell")
	_, err = f.s.SetTeamAccess(GridTeamID, true)
	require.NoError(t, err)
	_, err = f.s.SetTeamAccess(DefaultTeamID, false)
	require.ErrorIs(t, err, ErrNotFound, "not a Grid workspace")

	org := f.installAs(t, UserGrace)
	teamIDs := func() []any {
		var out []any
		for _, x := range f.call(t, "auth.teams.list", org, url.Values{})["teams"].([]any) {
			out = append(out, x.(map[string]any)["id"])
		}
		return out
	}
	authorization := func() map[string]any {
		ev, err := f.s.PostMessage(MessageInput{Channel: GridChannelHQ, User: UserGrace, Text: "hello"})
		require.NoError(t, err)
		var env map[string]any
		require.NoError(t, json.Unmarshal(ev.Body, &env))
		return env["authorizations"].([]any)[0].(map[string]any)
	}
	hq := url.Values{"types": {"public_channel,private_channel"}, "team_id": {GridTeamID}}
	require.Equal(t, []any{GridTeam2ID, GridTeamID}, teamIDs())
	require.Equal(t, true, authorization()["is_enterprise_install"])

	status, ans := f.control(t, "/_sandbox/slack/team-access", `{"team_id":"`+GridTeamID+`","granted":false}`)
	require.Equal(t, http.StatusCreated, status, "%v", ans)
	require.Equal(t, "team_access_revoked", ans["type"])
	require.Equal(t, []any{GridTeam2ID}, teamIDs())
	require.Equal(t, "team_access_not_granted", f.call(t, "users.conversations", org, hq)["error"])
	require.Equal(t, "channel_not_found", f.call(t, "conversations.history", org, url.Values{"channel": {GridChannelHQ}})["error"])
	require.Equal(t, false, authorization()["is_enterprise_install"], "the workspace's events are no longer the org install's")

	status, ans = f.control(t, "/_sandbox/slack/team-access", `{"team_id":"`+GridTeamID+`","granted":true}`)
	require.Equal(t, http.StatusCreated, status, "%v", ans)
	require.Equal(t, []any{GridTeam2ID, GridTeamID}, teamIDs())
	require.Equal(t, []string{GridChannelHQ}, channelIDs(t, f.call(t, "users.conversations", org, hq)))
	require.Equal(t, true, authorization()["is_enterprise_install"])

	got := rc.all()
	require.Len(t, got, 2, "one delivery per change once the org installed the app")
	for i, typ := range []string{"team_access_revoked", "team_access_granted"} {
		require.True(t, got[i].valid)
		var env struct {
			Type  string `json:"type"`
			Event struct {
				TeamID       *string `json:"team_id"`
				EnterpriseID string  `json:"enterprise_id"`
				Event        struct {
					Type    string   `json:"type"`
					TeamIDs []string `json:"team_ids"`
				} `json:"event"`
			} `json:"event"`
			Authorizations []map[string]any `json:"authorizations"`
		}
		require.NoError(t, json.Unmarshal(got[i].body, &env))
		require.Equal(t, "event_callback", env.Type)
		require.Nil(t, env.Event.TeamID)
		require.Equal(t, EnterpriseID, env.Event.EnterpriseID)
		require.Equal(t, typ, env.Event.Event.Type)
		require.Equal(t, []string{GridTeamID}, env.Event.Event.TeamIDs)
		require.Equal(t, false, env.Authorizations[0]["is_enterprise_install"])
	}
	status, _ = f.control(t, "/_sandbox/slack/team-access", `{"team_id":"`+GridTeamID+`"}`)
	require.Equal(t, http.StatusBadRequest, status)
}

// TestShareChangesLegacyPrivateChannelID: sharing a legacy private
// channel (G…) through Slack Connect gives it a new id for good (C and the
// rest of the old id, as in Slack's example): history, membership and
// events follow the new id, the old one is channel_not_found everywhere,
// and the app gets channel_id_changed naming both.
func TestShareChangesLegacyPrivateChannelID(t *testing.T) {
	f, rc := withReceiver(t, Options{Seed: true})
	const oldID, newID = "G012Y48650T", "C012Y48650T"
	require.NoError(t, f.s.AddChannel(DefaultTeamID, oldID, "launch-war-room", true, true))
	before, err := f.s.PostMessage(MessageInput{Channel: oldID, User: UserBob, Text: "before the share"})
	require.NoError(t, err)
	var msg struct {
		Event struct {
			TS string `json:"ts"`
		} `json:"event"`
	}
	require.NoError(t, json.Unmarshal(before.Body, &msg))

	status, ans := f.control(t, "/_sandbox/slack/channels/"+oldID+"/share", `{}`)
	require.Equal(t, http.StatusCreated, status, "%v", ans)
	require.Equal(t, "channel_id_changed", ans["type"])
	require.Equal(t, map[string]any{"type": "channel_id_changed", "old_channel_id": oldID, "new_channel_id": newID, "event_ts": ans["event"].(map[string]any)["event_ts"]}, ans["event"])
	got := rc.all()
	require.Len(t, got, 1, "sent to the app, whose bot is in the channel")
	var env struct {
		Type           string           `json:"type"`
		TeamID         string           `json:"team_id"`
		Authorizations []map[string]any `json:"authorizations"`
	}
	require.NoError(t, json.Unmarshal(got[0].body, &env))
	require.Equal(t, "event_callback", env.Type)
	require.Equal(t, DefaultTeamID, env.TeamID)
	require.Equal(t, DefaultTeamID, env.Authorizations[0]["team_id"])

	both := url.Values{"types": {"public_channel,private_channel"}}
	require.Equal(t, []string{ChannelGeneral, ChannelPress, newID}, channelIDs(t, f.call(t, "users.conversations", f.token, both)))
	for _, method := range []string{"conversations.history", "conversations.info"} {
		require.Equal(t, "channel_not_found", f.call(t, method, f.token, url.Values{"channel": {oldID}})["error"], method)
	}
	hist := f.call(t, "conversations.history", f.token, url.Values{"channel": {newID}})
	require.Equal(t, true, hist["ok"], "%v", hist)
	require.Len(t, hist["messages"], 1)
	require.Equal(t, msg.Event.TS, hist["messages"].([]any)[0].(map[string]any)["ts"], "the history moved with the channel")
	info := f.call(t, "conversations.info", f.token, url.Values{"channel": {newID}})["channel"].(map[string]any)
	require.Equal(t, "launch-war-room", info["name"])
	require.Equal(t, true, info["is_ext_shared"])
	require.Equal(t, true, info["is_private"])

	after, err := f.s.PostMessage(MessageInput{Channel: newID, User: UserBob, Text: "after the share"})
	require.NoError(t, err)
	require.Contains(t, string(after.Inner), `"channel":"`+newID+`"`)
	_, err = f.s.PostMessage(MessageInput{Channel: oldID, Text: "gone"})
	require.ErrorIs(t, err, ErrNotFound)

	_, err = f.s.ShareChannel(ChannelPress)
	require.ErrorIs(t, err, ErrInvalid, "a C… private channel keeps its id")
	_, err = f.s.ShareChannel("G0NOPE0000")
	require.ErrorIs(t, err, ErrNotFound)
	status, _ = f.control(t, "/_sandbox/slack/channels/"+oldID+"/share", `{}`)
	require.Equal(t, http.StatusNotFound, status, "the old id is gone")
}

// TestGroupDM: a group DM with the bot has a G… id, like a legacy private
// channel's; users.conversations lists it for types=mpim only, its
// messages say channel_type mpim, and a reaction in it names no channel
// type, as Slack's documented reaction_added item (type, channel, ts).
func TestGroupDM(t *testing.T) {
	f := setup(t, Options{})
	require.Equal(t, []string{GroupDM}, channelIDs(t, f.call(t, "users.conversations", f.token, url.Values{"types": {"mpim"}})))
	require.NotContains(t, channelIDs(t, f.call(t, "users.conversations", f.token, url.Values{"types": {"public_channel,private_channel"}})), GroupDM)

	msg, err := f.s.PostMessage(MessageInput{Channel: GroupDM, User: UserBob, Text: "lunch?"})
	require.NoError(t, err)
	var m struct {
		Event map[string]any `json:"event"`
	}
	require.NoError(t, json.Unmarshal(msg.Body, &m))
	require.Equal(t, "mpim", m.Event["channel_type"])
	re, err := f.s.AddReaction(ReactionInput{Channel: GroupDM, TS: m.Event["ts"].(string), Reaction: "taco"})
	require.NoError(t, err)
	var r struct {
		Event struct {
			Item map[string]any `json:"item"`
		} `json:"event"`
	}
	require.NoError(t, json.Unmarshal(re.Body, &r))
	require.Equal(t, map[string]any{"type": "message", "channel": GroupDM, "ts": m.Event["ts"]}, r.Event.Item)
}
