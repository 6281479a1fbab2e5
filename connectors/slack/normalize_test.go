package slack

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	slackapi "github.com/slack-go/slack"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/connectors/connectortest"
)

const fxChannel = "C061EG9SL"

func at(sec int64, micro int) time.Time { return time.Unix(sec, int64(micro)*1000).UTC() }

// TestNormalizeEventFixtures runs every message and reaction event variant
// through the webhook path and checks the Signals field by field.
func TestNormalizeEventFixtures(t *testing.T) {
	tests := []struct {
		file string
		want []connectors.Signal // Raw is checked separately
	}{
		{"message.json", []connectors.Signal{{
			Kind: kindMessage, OccurredAt: at(1767272400, 200), DedupeKey: "msg:C061EG9SL:1767272400.000200",
			Payload: connectors.Payload{
				Title: "The Verge piece is live, thanks @U0G9QF9C6!",
				URL:   "https://slack.com/archives/C061EG9SL/p1767272400000200",
				Actor: connectors.Actor{ID: "U061F7AUR"}, Subject: connectors.Ref{Type: "message", ID: "1767272400.000200"},
				Context: connectors.Ref{Type: "channel", ID: fxChannel, Name: fxChannel},
				Attributes: map[string]any{"channel_id": fxChannel, "ts": "1767272400.000200", "is_thread_reply": false,
					"text": "The <https://www.theverge.com/2026/1/1/launch|Verge piece> is live, thanks <@U0G9QF9C6>!"},
			},
		}}},
		{"message_thread_reply.json", []connectors.Signal{{
			Kind: kindMessage, OccurredAt: at(1767272460, 300), DedupeKey: "msg:C061EG9SL:1767272460.000300",
			Payload: connectors.Payload{
				Title: "Sharing it on our socials now",
				URL:   "https://slack.com/archives/C061EG9SL/p1767272460000300?thread_ts=1767272400.000200&cid=C061EG9SL",
				Actor: connectors.Actor{ID: "U0G9QF9C6"}, Subject: connectors.Ref{Type: "message", ID: "1767272460.000300"},
				Context: connectors.Ref{Type: "channel", ID: fxChannel, Name: fxChannel},
				Attributes: map[string]any{"channel_id": fxChannel, "ts": "1767272460.000300", "is_thread_reply": true,
					"thread_ts": "1767272400.000200", "text": "Sharing it on our socials now"},
			},
		}}},
		{"message_thread_broadcast.json", []connectors.Signal{{
			Kind: kindMessage, OccurredAt: at(1767272520, 400), DedupeKey: "msg:C061EG9SL:1767272520.000400",
			Payload: connectors.Payload{
				Title: "Final version approved, sending to the wire at 9am",
				URL:   "https://slack.com/archives/C061EG9SL/p1767272520000400?thread_ts=1767272400.000200&cid=C061EG9SL",
				Actor: connectors.Actor{ID: "U061F7AUR"}, Subject: connectors.Ref{Type: "message", ID: "1767272520.000400"},
				Context: connectors.Ref{Type: "channel", ID: fxChannel, Name: fxChannel},
				Attributes: map[string]any{"channel_id": fxChannel, "ts": "1767272520.000400", "is_thread_reply": true,
					"thread_ts": "1767272400.000200", "subtype": "thread_broadcast", "text": "Final version approved, sending to the wire at 9am"},
			},
		}}},
		{"message_file_share.json", []connectors.Signal{{
			Kind: kindMessage, OccurredAt: at(1767272580, 500), DedupeKey: "msg:C061EG9SL:1767272580.000500",
			Payload: connectors.Payload{
				Title: "Shared a file: Coverage report week 1",
				URL:   "https://slack.com/archives/C061EG9SL/p1767272580000500",
				Actor: connectors.Actor{ID: "U061F7AUR"}, Subject: connectors.Ref{Type: "message", ID: "1767272580.000500"},
				Context: connectors.Ref{Type: "channel", ID: fxChannel, Name: fxChannel},
				Attributes: map[string]any{"channel_id": fxChannel, "ts": "1767272580.000500", "is_thread_reply": false,
					"subtype": "file_share", "files": 1, "text": ""},
			},
		}}},
		{"message_me.json", []connectors.Signal{{
			Kind: kindMessage, OccurredAt: at(1767272640, 600), DedupeKey: "msg:C061EG9SL:1767272640.000600",
			Payload: connectors.Payload{
				Title: "is heading to the TechCrunch interview",
				URL:   "https://slack.com/archives/C061EG9SL/p1767272640000600",
				Actor: connectors.Actor{ID: "U0G9QF9C6"}, Subject: connectors.Ref{Type: "message", ID: "1767272640.000600"},
				Context: connectors.Ref{Type: "channel", ID: fxChannel, Name: fxChannel},
				Attributes: map[string]any{"channel_id": fxChannel, "ts": "1767272640.000600", "is_thread_reply": false,
					"subtype": "me_message", "text": "is heading to the TechCrunch interview"},
			},
		}}},
		{"reaction_added.json", []connectors.Signal{{
			Kind: kindReaction, OccurredAt: at(1767273060, 1300), DedupeKey: "reaction:C061EG9SL:1767272400.000200:U0G9QF9C6:tada",
			Payload: connectors.Payload{
				Title: "Reacted :tada: to a message",
				URL:   "https://slack.com/archives/C061EG9SL/p1767272400000200",
				Actor: connectors.Actor{ID: "U0G9QF9C6"}, Subject: connectors.Ref{Type: "message", ID: "1767272400.000200"},
				Context:    connectors.Ref{Type: "channel", ID: fxChannel, Name: fxChannel},
				Attributes: map[string]any{"channel_id": fxChannel, "item_ts": "1767272400.000200", "reaction": "tada", "item_user": "U061F7AUR"},
			},
		}}},
		// Skipped: automation, edits, deletions, housekeeping, DMs.
		{"message_bot_message.json", nil},
		{"message_bot_id.json", nil},
		{"message_changed.json", nil},
		{"message_deleted.json", nil},
		{"message_changed_tombstone.json", nil},
		{"message_channel_join.json", nil},
		{"message_im.json", nil},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			d, err := parseDelivery(fixture(t, "events/"+tc.file))
			require.NoError(t, err)
			require.Len(t, d.Signals, len(tc.want))
			for i, s := range d.Signals {
				require.NoError(t, connectors.ValidateSignal(Spec, s))
				require.True(t, json.Valid(s.Raw) && len(s.Raw) > 0)
				s.Raw = nil
				require.Equal(t, tc.want[i], s)
			}
		})
	}
}

// TestNormalizeHistoryPage checks a full conversations.history answer:
// skipped messages still yield their reactions, one per (reaction, user),
// at the message's time.
func TestNormalizeHistoryPage(t *testing.T) {
	var keys []string
	byKey := map[string]connectors.Signal{}
	for _, s := range historyPageSignals(t) {
		require.NoError(t, connectors.ValidateSignal(Spec, s))
		keys = append(keys, s.DedupeKey)
		byKey[s.DedupeKey] = s
	}
	require.Equal(t, []string{
		"reaction:C061EG9SL:1767272700.000700:U0G9QF9C6:rocket", // on the bot message, which is skipped
		"msg:C061EG9SL:1767272520.000400",                       // thread_broadcast
		"msg:C061EG9SL:1767272400.000200",
		"reaction:C061EG9SL:1767272400.000200:U0G9QF9C6:eyes",
		"reaction:C061EG9SL:1767272400.000200:U0HBQ4C2X:eyes",
		"reaction:C061EG9SL:1767272400.000200:U0HBQ4C2X:+1::skin-tone-2",
	}, keys, "channel_join skipped, bot message contributes only its reaction")

	parent := byKey["msg:C061EG9SL:1767272400.000200"]
	require.Equal(t, 2, parent.Payload.Attributes["reply_count"])
	require.Equal(t, "https://acme-pr.slack.com/archives/C061EG9SL/p1767272400000200", parent.Payload.URL)
	require.Equal(t, false, parent.Payload.Attributes["is_thread_reply"], "a thread parent is not a reply")
	require.Contains(t, string(parent.Raw), `"reply_users_count": 2`, "Raw is Slack's own object, not a re-encoding")

	eyes := byKey["reaction:C061EG9SL:1767272400.000200:U0HBQ4C2X:eyes"]
	require.Equal(t, at(1767272400, 200), eyes.OccurredAt, "reaction time is unknown: the message's")
	require.Equal(t, "U0HBQ4C2X", eyes.Payload.Actor.ID)
	require.Equal(t, "U061F7AUR", eyes.Payload.Attributes["item_user"])
	require.JSONEq(t, `{"name":"eyes","users":["U0G9QF9C6","U0HBQ4C2X"],"count":2}`, string(eyes.Raw))

	rocket := byKey["reaction:C061EG9SL:1767272700.000700:U0G9QF9C6:rocket"]
	require.NotContains(t, rocket.Payload.Attributes, "item_user", "bot_message has no user")
}

// TestReactionsLinkLikeTheirMessage: a reaction read from a message's
// reactions[] links where the message's own Signal does: to a thread reply
// with thread_ts and cid, as Slack's permalink of a message in a thread
// does (https://api.slack.com/methods/chat.getPermalink), to a thread
// parent or a message outside a thread without them. So does the Signal
// of the people a truncated reaction does not list.
func TestReactionsLinkLikeTheirMessage(t *testing.T) {
	sigs := append(historyPageSignals(t), recordedSignals(t, "api/conversations.replies.json")...)
	raw := json.RawMessage(`{"type":"message","user":"U0G9QF9C6","text":"Sent","ts":"1767272580.000500","thread_ts":"1767272400.000200",` +
		`"reactions":[{"name":"tada","users":["U061F7AUR"],"count":3}]}`)
	var m slackapi.Msg
	require.NoError(t, json.Unmarshal(raw, &m))
	truncated, err := messageSignals(where{Channel: fxChannel, Domain: "acme-pr.slack.com"}, &m, raw)
	require.NoError(t, err)
	sigs = append(sigs, truncated...)

	posted := map[string]string{}
	for _, s := range sigs {
		if s.Kind == kindMessage {
			posted[s.Payload.Subject.ID] = s.Payload.URL
		}
	}
	urls := map[string]string{}
	for _, s := range sigs {
		if url, ok := posted[s.Payload.Subject.ID]; ok && s.Kind == kindReaction {
			require.Equal(t, url, s.Payload.URL, s.DedupeKey)
			urls[s.DedupeKey] = s.Payload.URL
		}
	}
	require.Equal(t, map[string]string{
		"reaction:C061EG9SL:1767272400.000200:U0G9QF9C6:eyes":            "https://acme-pr.slack.com/archives/C061EG9SL/p1767272400000200",
		"reaction:C061EG9SL:1767272400.000200:U0HBQ4C2X:eyes":            "https://acme-pr.slack.com/archives/C061EG9SL/p1767272400000200",
		"reaction:C061EG9SL:1767272400.000200:U0HBQ4C2X:+1::skin-tone-2": "https://acme-pr.slack.com/archives/C061EG9SL/p1767272400000200",
		"reaction:C061EG9SL:1767272460.000300:U061F7AUR:white_check_mark": "https://acme-pr.slack.com/archives/C061EG9SL/p1767272460000300" +
			"?thread_ts=1767272400.000200&cid=C061EG9SL",
		"reaction:C061EG9SL:1767272580.000500:U061F7AUR:tada": "https://acme-pr.slack.com/archives/C061EG9SL/p1767272580000500" +
			"?thread_ts=1767272400.000200&cid=C061EG9SL",
		"reaction:C061EG9SL:1767272580.000500:others:tada": "https://acme-pr.slack.com/archives/C061EG9SL/p1767272580000500" +
			"?thread_ts=1767272400.000200&cid=C061EG9SL",
	}, urls, "a thread parent's reactions (thread_ts = ts) link without thread_ts, as the parent does")
}

// historyPageSignals are the Signals of the recorded conversations.history
// answer, as a sync of the channel makes them (the catalog's Slack examples
// are written from it).
func historyPageSignals(t testing.TB) []connectors.Signal {
	t.Helper()
	return recordedSignals(t, "api/conversations.history.json")
}

// recordedSignals are the Signals of a recorded conversations.history or
// conversations.replies answer (testdata/<name>), as a sync makes them.
func recordedSignals(t testing.TB, name string) []connectors.Signal {
	t.Helper()
	body := connectortest.Fixture(t, name)
	var resp slackapi.GetConversationHistoryResponse
	require.NoError(t, json.Unmarshal(body, &resp))
	d := &doer{last: body}
	raws, err := d.rawMessages(len(resp.Messages))
	require.NoError(t, err)
	w := where{Channel: fxChannel, Domain: "acme-pr.slack.com"}
	var out []connectors.Signal
	for i := range resp.Messages {
		sigs, err := messageSignals(w, &resp.Messages[i].Msg, raws[i])
		require.NoError(t, err)
		out = append(out, sigs...)
	}
	return out
}

func TestMessageTitle(t *testing.T) {
	long := strings.Repeat("word ", 40)
	tests := []struct {
		name string
		msg  slackapi.Msg
		want string
	}{
		{"markup made readable", slackapi.Msg{Text: "Ping <!here>: <#C024BE91L|press> has <https://example.com/a|the deck> for <@U0G9QF9C6>"},
			"Ping @here: #press has the deck for @Ada Lovelace"},
		{"unknown ids stay ids", slackapi.Msg{Text: "<@U0NOBODY1> in <#C0NOWHERE>"}, "@U0NOBODY1 in #C0NOWHERE"},
		{"channel link without label", slackapi.Msg{Text: "moved to <#C024BE91M>"}, "moved to #launch"},
		{"user groups, mail and entities", slackapi.Msg{Text: "<!subteam^S0614TZR7|@press-team> mail <mailto:a@example.com|a@example.com> &lt;3 &amp; more"},
			"@press-team mail a@example.com <3 & more"},
		{"dates read as their fallback", slackapi.Msg{Text: "call <!date^1767272400^{date_short} at {time}|Jan 1 at 1pm>"}, "call Jan 1 at 1pm"},
		{"bare link", slackapi.Msg{Text: "see <https://example.com/x>"}, "see https://example.com/x"},
		{"whitespace collapsed", slackapi.Msg{Text: "line one\n\n  line two\t end"}, "line one line two end"},
		{"long text cut", slackapi.Msg{Text: long}, strings.TrimSpace(long[:79]) + "…"},
		{"empty with file", slackapi.Msg{Files: []slackapi.File{{Name: "a.pdf"}}}, "Shared a file: a.pdf"},
		{"empty", slackapi.Msg{}, "Message in C1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := messageTitle(where{Channel: "C1", Names: &names{byID: map[string]string{"U0G9QF9C6": "Ada Lovelace", "C024BE91M": "launch"}}}, &tc.msg)
			require.Equal(t, tc.want, got)
			require.LessOrEqual(t, len([]rune(got)), titleRunes)
		})
	}
}

func TestParseTS(t *testing.T) {
	tests := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"1767272400.000200", at(1767272400, 200), true},
		{"1767272400.5", at(1767272400, 500000), true},
		{"1767272400", at(1767272400, 0), true},
		{"", time.Time{}, false},
		{"abc.000100", time.Time{}, false},
		{"1767272400.-1", time.Time{}, false},
	}
	for _, tc := range tests {
		got, err := parseTS(tc.in)
		if !tc.ok {
			require.Error(t, err, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		require.Equal(t, tc.want, got, tc.in)
	}
	require.True(t, tsAfter("1767272400.000200", "1767272400.000100"))
	require.True(t, tsAfter("1767272401.000000", "1767272400.999999"))
	require.False(t, tsAfter("1767272400.000100", "1767272400.000100"))
	require.True(t, tsAfter("1.000001", ""))
	require.False(t, tsAfter("", ""))
}

func TestSkipMessage(t *testing.T) {
	tests := []struct {
		msg  slackapi.Msg
		skip bool
	}{
		{slackapi.Msg{User: "U1"}, false},
		{slackapi.Msg{User: "U1", SubType: "thread_broadcast"}, false},
		{slackapi.Msg{User: "U1", SubType: "file_share"}, false},
		{slackapi.Msg{User: "U1", SubType: "me_message"}, false},
		{slackapi.Msg{User: "U1", BotID: "B1"}, true},
		{slackapi.Msg{SubType: "bot_message", BotID: "B1"}, true},
		{slackapi.Msg{User: "U1", SubType: "channel_join"}, true},
		{slackapi.Msg{User: "U1", SubType: "channel_topic"}, true},
		{slackapi.Msg{User: "U1", SubType: "message_changed", Hidden: true}, true},
		{slackapi.Msg{User: "U1", SubType: "huddle_thread"}, true},
		{slackapi.Msg{}, true},
	}
	for _, tc := range tests {
		require.Equal(t, tc.skip, skipMessage(&tc.msg), "%+v", tc.msg)
	}
}
