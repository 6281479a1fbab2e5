package slacksandbox

import (
	"encoding/json"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestConversationsInfoAndUsersInfo: names as Slack answers them; a
// private channel without the bot and another workspace's channel are
// channel_not_found; a user without a display name answers an empty one.
func TestConversationsInfoAndUsersInfo(t *testing.T) {
	f := setup(t, Options{Seed: true})
	ans := f.call(t, "conversations.info", f.token, url.Values{"channel": {ChannelGeneral}})
	require.Equal(t, "general", ans["channel"].(map[string]any)["name"], "%v", ans)
	ans = f.call(t, "conversations.info", f.token, url.Values{"channel": {ChannelRandom}})
	require.Equal(t, "random", ans["channel"].(map[string]any)["name"], "a public channel without the bot is readable")
	for _, ch := range []string{GridChannelBoard, OtherChannel, "C0NOSUCH01"} {
		require.Equal(t, "channel_not_found", f.call(t, "conversations.info", f.token, url.Values{"channel": {ch}})["error"], ch)
	}
	bob := f.call(t, "users.info", f.token, url.Values{"user": {UserBob}})["user"].(map[string]any)
	require.Equal(t, "", bob["profile"].(map[string]any)["display_name"])
	require.Equal(t, "Bob Okafor", bob["profile"].(map[string]any)["real_name"])
	bot := f.call(t, "users.info", f.token, url.Values{"user": {BotUserID}})["user"].(map[string]any)
	require.Equal(t, true, bot["is_bot"])
}

// TestReactionUsersTruncated: count stays exact, users is cut.
func TestReactionUsersTruncated(t *testing.T) {
	f := setup(t, Options{Seed: true, ReactionUsersShown: 1})
	ans := f.call(t, "conversations.history", f.token, url.Values{"channel": {ChannelGeneral}})
	found := false
	for _, m := range ans["messages"].([]any) {
		rs, _ := m.(map[string]any)["reactions"].([]any)
		for _, r := range rs {
			r := r.(map[string]any)
			if r["name"] == "wave" {
				found = true
				require.EqualValues(t, 2, r["count"])
				require.Len(t, r["users"], 1)
			}
		}
		if found {
			break
		}
	}
	require.True(t, found)
}

// TestDeleteMessageAndAppRateLimited: a deleted message leaves history
// and is announced with message_deleted, a deleted thread parent becomes a
// tombstone announced with message_changed; app_rate_limited has Slack's
// envelope-less shape.
func TestDeleteMessageAndAppRateLimited(t *testing.T) {
	f := setup(t, Options{Seed: true})
	ev, err := f.s.PostMessage(MessageInput{Channel: ChannelGeneral, User: UserBob, Text: "oops"})
	require.NoError(t, err)
	var m struct {
		TS string `json:"ts"`
	}
	require.NoError(t, json.Unmarshal(ev.Inner, &m))
	del, err := f.s.DeleteMessage(DeleteInput{Channel: ChannelGeneral, TS: m.TS})
	require.NoError(t, err)
	require.True(t, del.Deliverable)
	var inner map[string]any
	require.NoError(t, json.Unmarshal(del.Inner, &inner))
	require.Equal(t, "message_deleted", inner["subtype"])
	require.Equal(t, m.TS, inner["deleted_ts"])
	require.NotContains(t, tsList(t, f.call(t, "conversations.history", f.token, url.Values{"channel": {ChannelGeneral}})), m.TS)
	_, err = f.s.DeleteMessage(DeleteInput{Channel: ChannelGeneral, TS: m.TS})
	require.ErrorIs(t, err, ErrNotFound)

	// A thread parent with replies leaves a tombstone in its place,
	// announced with message_changed; its replies stay.
	ev, err = f.s.PostMessage(MessageInput{Channel: ChannelGeneral, User: UserBob, Text: "thread starter"})
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(ev.Inner, &m))
	_, err = f.s.PostMessage(MessageInput{Channel: ChannelGeneral, User: UserAlice, Text: "a reply", ThreadTS: m.TS})
	require.NoError(t, err)
	del, err = f.s.DeleteMessage(DeleteInput{Channel: ChannelGeneral, TS: m.TS})
	require.NoError(t, err)
	var changed struct {
		Subtype string         `json:"subtype"`
		Hidden  bool           `json:"hidden"`
		Channel string         `json:"channel"`
		Message map[string]any `json:"message"`
		Prev    map[string]any `json:"previous_message"`
	}
	require.NoError(t, json.Unmarshal(del.Inner, &changed))
	require.Equal(t, "message_changed", changed.Subtype)
	require.True(t, changed.Hidden)
	require.Equal(t, ChannelGeneral, changed.Channel)
	require.Equal(t, "tombstone", changed.Message["subtype"])
	require.Equal(t, m.TS, changed.Message["ts"])
	require.Equal(t, m.TS, changed.Message["thread_ts"])
	require.Equal(t, "USLACKBOT", changed.Message["user"])
	require.Equal(t, "This message was deleted.", changed.Message["text"])
	require.Equal(t, true, changed.Message["hidden"])
	require.EqualValues(t, 1, changed.Message["reply_count"])
	require.Equal(t, "thread starter", changed.Prev["text"])
	hist := f.call(t, "conversations.history", f.token, url.Values{"channel": {ChannelGeneral}})
	require.Contains(t, tsList(t, hist), m.TS, "the tombstone stays in history")
	for _, x := range hist["messages"].([]any) {
		if x := x.(map[string]any); x["ts"] == m.TS {
			require.Equal(t, "tombstone", x["subtype"])
		}
	}
	require.Len(t, tsList(t, f.call(t, "conversations.replies", f.token, url.Values{"channel": {ChannelGeneral}, "ts": {m.TS}})), 2,
		"the tombstone and its reply")

	rl, err := f.s.AppRateLimited(GridTeamID)
	require.NoError(t, err)
	var body map[string]any
	require.NoError(t, json.Unmarshal(rl.Body, &body))
	require.Equal(t, "app_rate_limited", body["type"])
	require.Equal(t, GridTeamID, body["team_id"])
	require.ElementsMatch(t, []string{"token", "type", "team_id", "minute_rate_limited", "api_app_id"}, keysOf(body),
		"Slack's documented payload, a Grid workspace's too: no enterprise_id, no event")
	_, err = f.s.AppRateLimited("T0NOSUCH")
	require.ErrorIs(t, err, ErrNotFound)
}

// TestUninstall: removing the app from a workspace kills that install's
// tokens (token_revoked) and no other's, and announces tokens_revoked and
// app_uninstalled in Slack's envelope for them: team_id, no
// authorizations.
func TestUninstall(t *testing.T) {
	f := setup(t, Options{Seed: true})
	other, err := f.s.InstallAs(UserDave)
	require.NoError(t, err)
	evs, err := f.s.Uninstall("")
	require.NoError(t, err)
	require.Equal(t, map[string]any{"ok": false, "error": "token_revoked"},
		f.call(t, "conversations.info", f.token, url.Values{"channel": {ChannelGeneral}}))
	require.Equal(t, true, f.call(t, "conversations.info", other.AccessToken, url.Values{"channel": {OtherChannel}})["ok"],
		"another workspace's install keeps its token")

	require.Len(t, evs, 2)
	for i, want := range []string{"tokens_revoked", "app_uninstalled"} {
		var env map[string]any
		require.NoError(t, json.Unmarshal(evs[i].Body, &env))
		require.Equal(t, want, evs[i].Type)
		require.True(t, evs[i].Deliverable)
		require.Equal(t, "event_callback", env["type"])
		require.Equal(t, DefaultTeamID, env["team_id"])
		require.Equal(t, AppID, env["api_app_id"])
		require.NotEmpty(t, env["event_id"])
		require.NotContains(t, env, "authorizations")
		inner := env["event"].(map[string]any)
		require.Equal(t, want, inner["type"])
		if want == "tokens_revoked" {
			require.Equal(t, map[string]any{"oauth": []any{UserAlice}, "bot": []any{BotUserID}}, inner["tokens"])
		}
	}
	_, err = f.s.Uninstall("T0NOSUCH")
	require.ErrorIs(t, err, ErrNotFound)
}

func keysOf(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
