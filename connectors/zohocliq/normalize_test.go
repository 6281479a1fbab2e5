package zohocliq

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/connectors/connectortest"
)

func TestRender(t *testing.T) {
	t.Parallel()
	names := map[string]string{"60040386526": "Ada Lovelace"}
	for in, want := range map[string]string{
		"{@60040386526} hi":                          "@Ada Lovelace hi",
		"{@60040396507} hi":                          "@60040396507 hi",
		"cc [Scott Fisher](zohoid:873421) please":    "cc @Scott Fisher please",
		"cc [Scott](mail:scott.fisher@zylker.com)":   "cc @Scott",
		"see {#pressdesk}":                           "see #pressdesk",
		"  plain text  ":                             "plain text",
		"{@scott.fisher@zylker.com} review the copy": "@scott.fisher@zylker.com review the copy",
	} {
		require.Equal(t, want, render(in, names), in)
	}
}

// A messages answer with a file, a bot's reminder and a text message with
// mentions and reactions in the array form; time as a number or a string.
func TestMessageSignalsFromFixture(t *testing.T) {
	t.Parallel()
	var ans struct {
		Data []json.RawMessage `json:"data"`
	}
	require.NoError(t, json.Unmarshal(fixture(t, "messages_v2.json"), &ans))
	w := where{Host: "https://cliq.zoho.eu", Chat: "CT_1207124540483314854_20071845", ChatName: "#launch-room"}
	seen := time.Date(2026, 3, 18, 9, 0, 0, 0, time.UTC)
	var sigs []connectors.Signal
	for _, raw := range ans.Data {
		var m message
		require.NoError(t, json.Unmarshal(raw, &m))
		if s, ok := messageSignal(w, &m, raw); ok {
			sigs = append(sigs, s)
		}
		for _, r := range m.reactions() {
			sigs = append(sigs, reactionSignal(w, &m, r, seen, raw))
		}
	}
	require.Len(t, sigs, 5, "file + text message, three reactions; the bot's reminder is skipped")
	for _, s := range sigs {
		require.NoError(t, connectors.ValidateSignal(Spec, s), s.DedupeKey)
	}
	file := sigs[0]
	require.Equal(t, "message.posted", file.Kind)
	require.Equal(t, "Shared a file", file.Payload.Title)
	require.Equal(t, "file", file.Payload.Attributes["subtype"])
	require.Equal(t, 1, file.Payload.Attributes["files"])

	text := sigs[1]
	require.Equal(t, "msg:CT_1207124540483314854_20071845:1773813859592_60040396507", text.DedupeKey, "time and sender")
	require.Equal(t, []string{"msg:CT_1207124540483314854_20071845:1773813859592_51531973059"}, text.AliasKeys)
	require.Equal(t, "@Ada Lovelace can you confirm the embargo with @Scott Fisher? See #pressdesk", text.Payload.Title)
	require.Equal(t, "@Ada Lovelace can you confirm the embargo with @Scott Fisher? See #pressdesk\nThanks!", text.Payload.Attributes["text"])
	require.Equal(t, connectors.Actor{ID: "60040396507", Name: "Priya Raman"}, text.Payload.Actor)
	require.Equal(t, connectors.Ref{Type: "channel", ID: w.Chat, Name: "#launch-room"}, text.Payload.Context)
	require.Equal(t, "https://cliq.zoho.eu/chats/CT_1207124540483314854_20071845", text.Payload.URL)
	require.Equal(t, time.UnixMilli(1773813859592).UTC(), text.OccurredAt, "a string time is read")

	var keys []string
	for _, s := range sigs[2:] {
		require.Equal(t, "reaction.added", s.Kind)
		require.Equal(t, "60040396507", s.Payload.Attributes["item_user"])
		keys = append(keys, s.DedupeKey)
	}
	require.Equal(t, []string{
		"reaction:CT_1207124540483314854_20071845:1773813859592_51531973059::heart::60040376665",
		"reaction:CT_1207124540483314854_20071845:1773813859592_51531973059:👍:60040376665",
		"reaction:CT_1207124540483314854_20071845:1773813859592_51531973059:👍:60040386526",
	}, keys)
	require.Equal(t, time.UnixMilli(1773813870000).UTC(), sigs[3].OccurredAt, "a reaction's own time wins")
	require.Equal(t, seen, sigs[4].OccurredAt, "without one, the time the poll saw it")
	require.Equal(t, "Marco Rossi", sigs[3].Payload.Actor.Name)
}

// Cliq documents no reaction shape: the object forms are read too, and a
// repeated pair counts once.
func TestReactionShapes(t *testing.T) {
	t.Parallel()
	var ms []message
	require.NoError(t, json.Unmarshal(fixture(t, "reactions_object.json"), &ms))
	pairs := func(m message) []string {
		var out []string
		for _, r := range m.reactions() {
			out = append(out, r.Emoji+"|"+r.UserID+"|"+r.UserName)
		}
		return out
	}
	require.Equal(t, []string{"🎉|60040386526|Ada Lovelace", "👍|60040376665|", "👍|60040386526|"}, pairs(ms[0]))
	require.Equal(t, []string{":eyes:|60040386526|"}, pairs(ms[1]))
	require.Empty(t, pairs(ms[2]))
}

// Zoho documents a reaction as "timestamp:user_id:username" (its Cliq
// OpenAPI messages.yml, get-reactions: pattern ^\d+:\d+:.+$, example
// "😍": ["1710152648241:802515329:Diana", …]). Each is read as the user's
// id and name at the reaction's time: the Signal is dated by it, its actor
// is the user, and its key names the user by id only, so a rename keys
// the same reaction alike (the whole string was read as the user's id:
// no name, the poll's time, a key that changed with the name).
func TestReactionsInZohoFormat(t *testing.T) {
	t.Parallel()
	var ms []message
	require.NoError(t, json.Unmarshal(fixture(t, "reactions_zoho.json"), &ms))
	m := ms[0]
	rs := m.reactions()
	require.Len(t, rs, 12)
	var diana reaction
	for _, r := range rs {
		require.Regexp(t, `^[0-9]+$`, r.UserID)
		require.NotEmpty(t, r.UserName)
		require.False(t, r.At.IsZero(), "%s %s", r.Emoji, r.UserID)
		if r.UserID == "802515329" {
			diana = r
		}
	}
	require.Equal(t, reaction{Emoji: "😍", UserID: "802515329", UserName: "Diana", At: time.UnixMilli(1710152648241).UTC(),
		Was: "1710152648241:802515329:Diana"}, diana)

	const chat = "CT_1207124540483314854_20071845"
	w := where{Host: "https://cliq.zoho.eu", Chat: chat, ChatName: "#launch-room"}
	seen := time.Date(2026, 3, 18, 9, 0, 0, 0, time.UTC)
	s := reactionSignal(w, &m, diana, seen, json.RawMessage(`{}`))
	require.NoError(t, connectors.ValidateSignal(Spec, s))
	require.Equal(t, "reaction:"+chat+":1710152600000_51531973080:😍:802515329", s.DedupeKey)
	require.Equal(t, time.UnixMilli(1710152648241).UTC(), s.OccurredAt, "the reaction's own time, not the poll's")
	require.Equal(t, connectors.Actor{ID: "802515329", Name: "Diana"}, s.Payload.Actor)
	require.Equal(t, []string{"reaction:" + chat + ":1710152600000_51531973080:😍:1710152648241:802515329:Diana"}, s.MatchKeys,
		"the key an earlier version stored it under")

	// The name is split off at the first two colons only; a rename keeps
	// the key, and the pass does not emit the reaction again.
	c := &Connector{}
	cur := &chanCursor{Reactions: map[string]reactSet{}}
	one := func(s string) message {
		return message{ID: m.ID, Time: m.Time, Sender: m.Sender, Reactions: json.RawMessage(`{"😍": [` + strconv.Quote(s) + `]}`)}
	}
	before := one("1710152648241:802515329:Diana")
	got := c.newReactions(w, &before, nil, 1710152600000, cur, seen)
	require.Len(t, got, 1)
	require.Equal(t, s.DedupeKey, got[0].DedupeKey)
	renamed := one("1710152648241:802515329:Diana: Press desk")
	require.Equal(t, []reaction{{Emoji: "😍", UserID: "802515329", UserName: "Diana: Press desk", At: time.UnixMilli(1710152648241).UTC(),
		Was: "1710152648241:802515329:Diana: Press desk"}}, renamed.reactions())
	require.Empty(t, c.newReactions(w, &renamed, nil, 1710152600000, cur, seen), "a rename is the same reaction")
	require.Equal(t, s.DedupeKey, reactionSignal(w, &renamed, renamed.reactions()[0], seen, nil).DedupeKey)
}

// Mentions of GET /api/v3/mentions (Zoho's own example, with its float
// message id and ISO times): each is mention.created; replies are not.
func TestMentionEntriesFromFixture(t *testing.T) {
	t.Parallel()
	var ans struct {
		Data []mentionEntry `json:"data"`
	}
	require.NoError(t, json.Unmarshal(fixture(t, "mentions_v3.json"), &ans))
	e := ans.Data[0]
	at, ok := idTime(e.Message.ID.String())
	require.True(t, ok)
	require.Equal(t, int64(1779854404814), at.UnixMilli(), "the id's milliseconds are exact")
	s, ok := mentionSignal("https://cliq.zoho.com", e.Chat.ID.String(), e.Chat.ChannelDisplayName, &e.Message, []string{"60040386526"}, nil)
	require.True(t, ok)
	s.Raw = json.RawMessage(`{}`)
	require.NoError(t, connectors.ValidateSignal(Spec, s))
	require.Equal(t, "Mentioned in #Project Discussion: Hey @Ryan West, can you review this?", s.Payload.Title)
	require.Equal(t, "mention:CT_1207124540483314854_60002085329:1779854404814_60040396507", s.DedupeKey)

	// The float id of Zoho's example cannot be read back exactly; the ISO
	// time still dates the mention.
	f := ans.Data[1]
	_, ok = idTime(f.Message.ID.String())
	require.False(t, ok)
	at, ok = f.Message.at()
	require.True(t, ok)
	require.Equal(t, "2026-05-26T07:01:53Z", at.Format(time.RFC3339))
	require.Equal(t, "replies", ans.Data[2].ActivityType)
}

// catalogExamples are the Signals of the mentions stream's page read from
// the recorded GET /api/v3/mentions answer (testdata/mentions_v3.json) of
// an account in the US data centre: the catalog's Zoho Cliq examples are
// written from them.
func catalogExamples(t testing.TB) []connectors.Signal {
	return mentionsPage(t, connectortest.Fixture(t, "mentions_v3.json"), nil).Signals
}

// mentionsPage is the mentions stream's page after cursor, of an account in
// the US data centre, whose GET /api/v3/mentions answers body.
func mentionsPage(t testing.TB, body []byte, cursor json.RawMessage) *connectors.Page {
	cliq := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.URL.Host != "cliq.zoho.com" || r.URL.Path != "/api/v3/mentions" {
			return &http.Response{StatusCode: http.StatusNotFound, Body: io.NopCloser(strings.NewReader(`{}`)), Request: r}, nil
		}
		return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json;charset=UTF-8"}},
			Body: io.NopCloser(bytes.NewReader(body)), Request: r}, nil
	})}
	c := newProvider(t, nil).Connector.(*Connector)
	page, err := c.FetchPage(context.Background(), connectors.PageRequest{
		Connection: connectors.Connection{Account: connectors.Account{ID: "60040386526", Metadata: map[string]string{"dc": "us"}}},
		Stream:     mentionsStream, Now: time.Date(2026, 5, 28, 6, 0, 0, 0, time.UTC), HTTP: cliq, Cursor: cursor,
	})
	require.NoError(t, err)
	return page
}

// Zoho's mentions name the message by a float id (1.7797789135081024e+23:
// no milliseconds to read back) and date it to the second; the entry id,
// "<chat id>|<sender id>|<ms>", carries the exact milliseconds. Two
// mentions by one sender in one second are two Signals, keyed and dated
// by the entry's milliseconds, and the high-water mark is exact, so the
// next pass emits neither again. A mention whose entry id is of another
// shape keeps the key of its second. Both of one sender's were keyed to
// the second, and the second mention was dropped as the first's duplicate.
func TestSameSecondMentionsWithFloatIDs(t *testing.T) {
	t.Parallel()
	const chat = "CT_1796005539471668330_60002085329"
	body := fixture(t, "mentions_float_ids.json")
	page := mentionsPage(t, body, nil)
	type row struct {
		Key   string
		At    int64
		Match []string
	}
	var got []row
	for _, s := range page.Signals {
		require.NoError(t, connectors.ValidateSignal(Spec, s))
		require.Equal(t, []string{"mention:" + chat + ":" + s.Payload.Subject.ID}, s.AliasKeys, "the id's key, as before")
		got = append(got, row{s.DedupeKey, s.OccurredAt.UnixMilli(), s.MatchKeys})
	}
	require.Equal(t, []row{
		{"mention:" + chat + ":1779778913508_60040376665", 1779778913508, []string{"mention:" + chat + ":1.7797789135081024e+23"}},
		{"mention:" + chat + ":1779778913109_60040376665", 1779778913109, []string{"mention:" + chat + ":1.7797789131091023e+23"}},
		{"mention:" + chat + ":1779778913000_60040396507", 1779778913000, nil},
	}, got, "one Signal per mention, to the millisecond where the entry id tells it")
	var cur mentionCursor
	require.NoError(t, json.Unmarshal(page.Next, &cur))
	require.Equal(t, int64(1779778913508), cur.HW)
	require.Equal(t, []string{"1.7797789135081024e+23", "1.7797789131091023e+23", "1.7797789134001011e+23"}, cur.HWIDs,
		"every id read in the mark's second: Scott's is compared with the second")
	require.Empty(t, mentionsPage(t, body, page.Next).Signals, "the next pass emits none again")

	// A cursor an earlier version left, at the second: both mentions of the
	// second are read again; TestSameSecondMentionStoredBeforeUpgrade
	// stores them.
	again := mentionsPage(t, body, json.RawMessage(`{"v":1,"hw":1779778913000,"hw_ids":["1.7797789135081024e+23","1.7797789134001011e+23"]}`))
	require.Len(t, again.Signals, 2)
}

// The mark of a pass that read a mention dated by its entry id (Mark's,
// 12:31:53.508) is to the millisecond; Scott's, sent later in that second
// and listed by the next pass, is dated to the second (12:31:53.000) when
// its entry id is of another shape (a hash, as in Zoho's example) or names
// another sender. It is compared with the mark's second, where the ids
// the mark's passes read are remembered: the next pass emits it, and the
// one after emits nothing again. It was compared with the mark's
// millisecond, found older, and never emitted.
func TestSameSecondMentionDatedToTheSecondAfterExactMark(t *testing.T) {
	t.Parallel()
	const chat = "CT_1796005539471668330_60002085329"
	body := fixture(t, "mentions_float_ids.json")
	var fx struct{ Data []map[string]any }
	require.NoError(t, json.Unmarshal(body, &fx))
	mark := fx.Data[0]
	require.Equal(t, chat+"|60040376665|1779778913508", mark["id"])
	first := mentionsPage(t, editJSON(t, body, func(call map[string]any) { call["data"] = []any{mark} }), nil)
	require.Len(t, first.Signals, 1)
	var cur mentionCursor
	require.NoError(t, json.Unmarshal(first.Next, &cur))
	require.Equal(t, int64(1779778913508), cur.HW)

	for name, entryID := range map[string]string{
		"hash entry id":                  "69db51e903077660b5bd74ba2f00a3b9",
		"entry id naming another sender": chat + "|60040376665|1779778913900",
	} {
		next := editJSON(t, body, func(call map[string]any) {
			data := call["data"].([]any)
			scott := data[2].(map[string]any)
			scott["id"] = entryID
			obj(scott, "message")["id"] = json.Number("1.7797789139001011e+23")
			call["data"] = []any{scott, data[0]}
		})
		page := mentionsPage(t, next, first.Next)
		require.Len(t, page.Signals, 1, name)
		s := page.Signals[0]
		require.Equal(t, "mention:"+chat+":1779778913000_60040396507", s.DedupeKey, name)
		require.Equal(t, int64(1779778913000), s.OccurredAt.UnixMilli(), name)
		require.NoError(t, json.Unmarshal(page.Next, &cur))
		require.Equal(t, int64(1779778913508), cur.HW, name)
		require.ElementsMatch(t, []string{"1.7797789135081024e+23", "1.7797789139001011e+23"}, cur.HWIDs, name)
		require.Empty(t, mentionsPage(t, next, page.Next).Signals, name+": the next pass emits none again")
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestValidateConfig(t *testing.T) {
	t.Parallel()
	c := &Connector{}
	for in, want := range map[string]string{
		`{"channels": ["#LaunchRoom", "CT_1207124540483314854_20071845", "launchroom"]}`: `{"channels":["CT_1207124540483314854_20071845","launchroom"],"track_mentions":true}`,
		`{"channels": [], "track_mentions": true}`:                                       `{"channels":[],"track_mentions":true}`,
		`{"channels": ["pressdesk"], "track_mentions": false}`:                           `{"channels":["pressdesk"],"track_mentions":false}`,
		`null`: `{"channels":[],"track_mentions":true}`,
	} {
		got, err := c.ValidateConfig(json.RawMessage(in))
		require.NoError(t, err, in)
		require.JSONEq(t, want, string(got), in)
	}
	for in, field := range map[string]string{
		`{"channels": ["CT_1-T-2"]}`:                      "channels[0]",
		`{"channels": ["has space"]}`:                     "channels[0]",
		`{"channels": [], "track_mentions": false}`:       "config",
		`{"chanels": ["x"]}`:                              "config",
		`{"channels": "launchroom"}`:                      "config",
		`{"channels": ["ok", "CT_12_34", "-bad-start-"]}`: "channels[2]",
	} {
		_, err := c.ValidateConfig(json.RawMessage(in))
		var ce *connectors.ConfigError
		require.ErrorAs(t, err, &ce, in)
		require.Contains(t, ce.Fields, field, in)
	}
}
