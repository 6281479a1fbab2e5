package slack

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/sandbox"
	slacksandbox "github.com/poblysh/poblysh/sandbox/slack"
)

// methodCalls counts the sandbox's Web API calls of method.
func (f *fake) methodCalls(method string) int {
	n := 0
	for _, r := range f.sb.Requests() {
		if r.Method == method {
			n++
		}
	}
	return n
}

func bySubject(sigs []connectors.Signal, kind, ts string) *connectors.Signal {
	for i := range sigs {
		if sigs[i].Kind == kind && sigs[i].Payload.Subject.ID == ts {
			return &sigs[i]
		}
	}
	return nil
}

// TestSyncResolvesNames: a synced Signal names its channel
// (conversations.info) in context.name and its author (users.info: the
// display name, else the real name) in actor.name; mentions in the title
// read as names while attributes.text keeps Slack's markup. Each id is
// looked up once per TTL.
func TestSyncResolvesNames(t *testing.T) {
	f := newFake(t, slacksandbox.Options{Seed: true}, nil)
	conn, tok := f.connect(t, slacksandbox.ChannelGeneral)
	hc := fastClient(tok.AccessToken)
	stream := "history:" + slacksandbox.ChannelGeneral
	_, resting, _ := f.drain(t, conn, hc, stream, nil)
	text := "Thanks <@" + slacksandbox.UserCarol + ">, the brief is in <#" + slacksandbox.ChannelPress + "> and <https://example.com/brief|on the wiki>"
	ev, err := f.sb.PostMessage(slacksandbox.MessageInput{Channel: slacksandbox.ChannelGeneral, User: slacksandbox.UserBob, Text: text})
	require.NoError(t, err)
	ts := eventTS(t, ev)
	sigs, _, _ := f.drain(t, conn, hc, stream, resting)
	s := bySubject(sigs, kindMessage, ts)
	require.NotNil(t, s)
	require.Equal(t, "general", s.Payload.Context.Name)
	require.Equal(t, "Bob Okafor", s.Payload.Actor.Name, "no display name: the real name")
	require.Equal(t, slacksandbox.UserBob, s.Payload.Actor.ID)
	require.Equal(t, "Thanks @Carol Chen, the brief is in #press-room and on the wiki", s.Payload.Title)
	require.Equal(t, text, s.Payload.Attributes["text"], "the raw text is kept")

	// Every user and channel was looked up once, across both runs.
	users, chans := f.methodCalls("users.info"), f.methodCalls("conversations.info")
	require.Equal(t, 3, users, "Alice, Bob and Carol")
	require.Equal(t, 2, chans, "#general and the mentioned #press-room")
	_, _, _ = f.drain(t, conn, hc, stream, nil)
	require.Equal(t, users, f.methodCalls("users.info"), "cached")

	// Past the TTL a sync looks the names up again.
	f.sb.RenameUser(slacksandbox.UserBob, "Bobby")
	p, err := f.conn.FetchPage(context.Background(), connectors.PageRequest{Connection: conn, Stream: stream, HTTP: hc, Now: time.Now().Add(defaultNameTTL + time.Minute)})
	require.NoError(t, err)
	require.Greater(t, f.methodCalls("users.info"), users)
	require.Equal(t, "Bobby", bySubject(p.Signals, kindMessage, ts).Payload.Actor.Name)
}

// TestWebhookNamesFromCache: a webhook has no token to look names up; it
// uses the names this process's syncs resolved for the install, and ids
// when there are none.
func TestWebhookNamesFromCache(t *testing.T) {
	f := newFake(t, slacksandbox.Options{Seed: true}, nil)
	conn, tok := f.connect(t, slacksandbox.ChannelGeneral)
	ev, err := f.sb.PostMessage(slacksandbox.MessageInput{Channel: slacksandbox.ChannelGeneral, User: slacksandbox.UserCarol, Text: "hi <@" + slacksandbox.UserAlice + ">"})
	require.NoError(t, err)
	req := &connectors.WebhookRequest{Body: ev.Body, Now: time.Now()}

	d, err := f.conn.ParseWebhook(req)
	require.NoError(t, err)
	require.Len(t, d.Signals, 1)
	require.Empty(t, d.Signals[0].Payload.Actor.Name, "cold cache: ids only")
	require.Equal(t, "hi @"+slacksandbox.UserAlice, d.Signals[0].Payload.Title)

	_, _, _ = f.drain(t, conn, fastClient(tok.AccessToken), "history:"+slacksandbox.ChannelGeneral, nil)
	d, err = f.conn.ParseWebhook(req)
	require.NoError(t, err)
	require.Equal(t, "Carol Chen", d.Signals[0].Payload.Actor.Name)
	require.Equal(t, "general", d.Signals[0].Payload.Context.Name)
	require.Equal(t, "hi @Alice Martin", d.Signals[0].Payload.Title)
}

// TestNameLookupFailures: an id Slack does not know keeps its id; a rate
// limit fails the page so that it is retried with names.
func TestNameLookupFailures(t *testing.T) {
	f := newFake(t, slacksandbox.Options{Seed: true}, nil)
	conn, tok := f.connect(t, slacksandbox.ChannelGeneral)
	hc := fastClient(tok.AccessToken)
	stream := "history:" + slacksandbox.ChannelGeneral
	f.sb.Faults.Add(sandboxFaultAt(429, 3, "/api/users.info"))
	_, err := f.fetch(t, conn, hc, stream, nil)
	require.ErrorIs(t, err, connectors.ErrRateLimited)

	f.sb.Faults.Add(sandboxFaultBody(`{"ok":false,"error":"user_not_found"}`, "/api/users.info"))
	sigs, _, _ := f.drain(t, conn, hc, stream, nil)
	require.Len(t, sigs, slacksandbox.GeneralSignals)
	unknown := 0
	for _, s := range sigs {
		if s.Payload.Actor.Name == "" {
			unknown++
		}
		require.Equal(t, "general", s.Payload.Context.Name)
	}
	require.Positive(t, unknown, "the user Slack did not find keeps only its id")
	require.Less(t, unknown, len(sigs))
}

// eventTS is the ts of a sandbox message event.
func eventTS(t *testing.T, ev *slacksandbox.Event) string {
	t.Helper()
	var v struct {
		TS string `json:"ts"`
	}
	require.NoError(t, json.Unmarshal(ev.Inner, &v))
	return v.TS
}

func sandboxFaultAt(status, retryAfter int, path string) sandbox.Fault {
	return sandbox.Fault{Status: status, RetryAfter: retryAfter, PathPrefix: path}
}

func sandboxFaultBody(body, path string) sandbox.Fault {
	return sandbox.Fault{Status: 200, Body: body, PathPrefix: path}
}

// TestTruncatedReactionsAreCounted: a reaction whose users list is shorter
// than its count yields one Signal per listed user and one for the others.
func TestTruncatedReactionsAreCounted(t *testing.T) {
	f := newFake(t, slacksandbox.Options{Seed: true, ReactionUsersShown: 1}, nil)
	conn, tok := f.connect(t, slacksandbox.ChannelGeneral)
	sigs, _, _ := f.drain(t, conn, fastClient(tok.AccessToken), "history:"+slacksandbox.ChannelGeneral, nil)
	// Carol's message has :eyes: from Alice and Bob; only Alice is listed.
	var eyes []connectors.Signal
	for _, s := range sigs {
		if s.Kind == kindReaction && s.Payload.Attributes["reaction"] == "eyes" && s.Payload.Attributes["item_user"] == slacksandbox.UserCarol {
			eyes = append(eyes, s)
		}
	}
	require.Len(t, eyes, 2, "Alice (listed) and one Signal for the other")
	others := eyes[1]
	if others.Payload.Actor.ID != "" {
		others = eyes[0]
	}
	require.Empty(t, others.Payload.Actor.ID)
	require.Equal(t, 2, others.Payload.Attributes["count"])
	require.Equal(t, 1, others.Payload.Attributes["others"])
	require.Equal(t, "1 more person reacted :eyes: to a message", others.Payload.Title)
	require.Contains(t, others.DedupeKey, ":others:eyes")
	require.NoError(t, connectors.ValidateSignal(Spec, others))
	require.Len(t, sigs, slacksandbox.GeneralSignals, "each seeded reaction of two people is one listed Signal and one for the other")
}

// TestChannelNamesFromListings: proving access lists the bot's channels
// with their names, which a webhook of the same process then uses with no
// extra call.
func TestChannelNamesFromListings(t *testing.T) {
	f := newFake(t, slacksandbox.Options{Seed: true}, nil)
	conn, tok := f.connect(t, slacksandbox.ChannelGeneral)
	_ = f.prove(t, conn, tok)
	ev, err := f.sb.PostMessage(slacksandbox.MessageInput{Channel: slacksandbox.ChannelGeneral, User: slacksandbox.UserBob, Text: "hi"})
	require.NoError(t, err)
	d, err := f.conn.ParseWebhook(&connectors.WebhookRequest{Body: ev.Body, Now: time.Now()})
	require.NoError(t, err)
	require.Equal(t, "general", d.Signals[0].Payload.Context.Name)
	require.Zero(t, f.methodCalls("conversations.info"), "named by users.conversations")
}

// TestBotActorsAreMarked: a user whose users.info says is_bot is an
// automation, and the catalog marks one with actor.bot: a reaction by a bot
// user (Slack apps react with reactions.add) and a message a bot user wrote
// without a bot_id carry actor.bot: true, from a sync and from a webhook of
// the same process; people's stay unmarked. A webhook has no token, so from
// a process that never looked the user up the reaction stays unmarked
// (docs/providers/slack.md, "Names").
func TestBotActorsAreMarked(t *testing.T) {
	f := newFake(t, slacksandbox.Options{Seed: true}, nil)
	conn, tok := f.connect(t, slacksandbox.ChannelGeneral)
	hc := fastClient(tok.AccessToken)
	ts := fmt.Sprintf("%d.000100", slacksandbox.SeedEpoch+110*60) // "Thanks team!"
	rev, err := f.sb.AddReaction(slacksandbox.ReactionInput{Channel: slacksandbox.ChannelGeneral, TS: ts, User: slacksandbox.BotUserID, Reaction: "white_check_mark"})
	require.NoError(t, err)
	mev, err := f.sb.PostMessage(slacksandbox.MessageInput{Channel: slacksandbox.ChannelGeneral, User: slacksandbox.BotUserID, Text: "Posted by a bot user, no bot_id"})
	require.NoError(t, err)
	botTS := eventTS(t, mev)

	d, err := f.conn.ParseWebhook(&connectors.WebhookRequest{Body: rev.Body, Now: time.Now()})
	require.NoError(t, err)
	require.Len(t, d.Signals, 1)
	require.False(t, d.Signals[0].Payload.Actor.Bot, "cold cache: nothing says the user is a bot")

	sigs, _, _ := f.drain(t, conn, hc, "history:"+slacksandbox.ChannelGeneral, nil)
	var botReaction, botMessage *connectors.Signal
	people := 0
	for i := range sigs {
		s := &sigs[i]
		switch {
		case s.Payload.Actor.ID != slacksandbox.BotUserID:
			require.False(t, s.Payload.Actor.Bot, "%s by %q is a person's", s.DedupeKey, s.Payload.Actor.ID)
			people++
		case s.Kind == kindReaction:
			botReaction = s
		case s.Kind == kindMessage && s.Payload.Subject.ID == botTS:
			botMessage = s
		}
	}
	require.Positive(t, people)
	require.NotNil(t, botReaction, "a bot's reaction is stored, marked, not dropped")
	require.True(t, botReaction.Payload.Actor.Bot, "backfilled reaction by a bot user")
	require.Equal(t, "Poblysh", botReaction.Payload.Actor.Name)
	require.NoError(t, connectors.ValidateSignal(Spec, *botReaction))
	require.NotNil(t, botMessage)
	require.True(t, botMessage.Payload.Actor.Bot, "message by a bot user without bot_id")

	d, err = f.conn.ParseWebhook(&connectors.WebhookRequest{Body: rev.Body, Now: time.Now()})
	require.NoError(t, err)
	require.Len(t, d.Signals, 1)
	require.Equal(t, botReaction.DedupeKey, d.Signals[0].DedupeKey)
	require.True(t, d.Signals[0].Payload.Actor.Bot, "pushed reaction by a bot user the process looked up")
	d, err = f.conn.ParseWebhook(&connectors.WebhookRequest{Body: mev.Body, Now: time.Now()})
	require.NoError(t, err)
	require.Len(t, d.Signals, 1)
	require.True(t, d.Signals[0].Payload.Actor.Bot, "pushed message by a bot user")
}

// TestContextNamedWithoutANameKnown: every Signal names its channel in
// payload.context.name (architecture §6: context is {type, id, name}).
// When no name is known (a webhook parsed by a process whose syncs never
// cached the channel, a channel conversations.info does not know) the name
// is the channel's id, as titles show it; Signals left the name out.
func TestContextNamedWithoutANameKnown(t *testing.T) {
	f := newFake(t, slacksandbox.Options{Seed: true}, nil)
	conn, tok := f.connect(t, slacksandbox.ChannelGeneral)
	ts := fmt.Sprintf("%d.000100", slacksandbox.SeedEpoch+110*60) // "Thanks team!"
	rev, err := f.sb.AddReaction(slacksandbox.ReactionInput{Channel: slacksandbox.ChannelGeneral, TS: ts, User: slacksandbox.UserBob, Reaction: "tada"})
	require.NoError(t, err)
	mev, err := f.sb.PostMessage(slacksandbox.MessageInput{Channel: slacksandbox.ChannelGeneral, User: slacksandbox.UserCarol, Text: "hi"})
	require.NoError(t, err)

	// Webhooks of a cold process: nothing cached, no call made.
	var pushed []connectors.Signal
	for _, ev := range []*slacksandbox.Event{mev, rev} {
		d, err := f.conn.ParseWebhook(&connectors.WebhookRequest{Body: ev.Body, Now: time.Now()})
		require.NoError(t, err)
		require.Len(t, d.Signals, 1)
		pushed = append(pushed, d.Signals...)
	}
	require.Equal(t, []string{kindMessage, kindReaction}, []string{pushed[0].Kind, pushed[1].Kind})
	for _, s := range pushed {
		require.Equal(t, connectors.Ref{Type: "channel", ID: slacksandbox.ChannelGeneral, Name: slacksandbox.ChannelGeneral}, s.Payload.Context, s.DedupeKey)
		require.NoError(t, connectors.ValidateSignal(Spec, s))
		b, err := json.Marshal(s.Payload)
		require.NoError(t, err)
		var p struct {
			Context map[string]any `json:"context"`
		}
		require.NoError(t, json.Unmarshal(b, &p))
		require.Equal(t, slacksandbox.ChannelGeneral, p.Context["name"], "%s", b)
	}
	require.Zero(t, f.methodCalls("conversations.info"))

	// A sync whose channel look-up Slack refuses as unknown.
	f.sb.Faults.Add(sandboxFaultBody(`{"ok":false,"error":"channel_not_found"}`, "/api/conversations.info"))
	sigs, _, _ := f.drain(t, conn, fastClient(tok.AccessToken), "history:"+slacksandbox.ChannelGeneral, nil)
	require.NotEmpty(t, sigs)
	for _, s := range sigs {
		require.Equal(t, slacksandbox.ChannelGeneral, s.Payload.Context.Name, s.DedupeKey)
		require.NoError(t, connectors.ValidateSignal(Spec, s))
	}
}
