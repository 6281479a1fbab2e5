package zohocliq

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
	zohosandbox "github.com/poblysh/poblysh/sandbox/zoho"
)

// Zoho's own bot handler samples (testdata/zcatalyst_*.json, copied from
// npm zcatalyst-cli 1.25.3; testdata/README.md) are of the organisation
// 123456456, whose user 123456 is Scott Fisher.
const (
	sampleOrg  = "123456456"
	sampleUser = "123456"
)

// sampleEnv is hookEnv with the connection in the samples' organisation,
// so their calls verify on its URL.
func sampleEnv(t *testing.T) (*Connector, connectors.Connection, *zohosandbox.Server) {
	t.Helper()
	c, conn, sb := hookEnv(t, nil)
	conn.Account.Metadata[metaOrgID] = sampleOrg
	return c, conn, sb
}

// editJSON decodes body (numbers kept as written), lets edit change it and
// encodes it again.
func editJSON(t *testing.T, body []byte, edit func(call map[string]any)) []byte {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var call map[string]any
	require.NoError(t, dec.Decode(&call))
	edit(call)
	out, err := json.Marshal(call)
	require.NoError(t, err)
	return out
}

// obj is the object at path in a decoded call.
func obj(call map[string]any, path ...string) map[string]any {
	m := call
	for _, k := range path {
		m = m[k].(map[string]any)
	}
	return m
}

// parseSigned verifies and parses body sent to conn's bot URL.
func parseSigned(t *testing.T, c *Connector, conn connectors.Connection, sb *zohosandbox.Server, body []byte) *connectors.WebhookDelivery {
	t.Helper()
	req := signed(sb, body, c.ConnectionWebhookURL(conn))
	require.NoError(t, c.VerifyWebhook(req))
	d, err := c.ParseWebhook(req)
	require.NoError(t, err)
	return d
}

// sampleMessageSent is Zoho's participation sample with the operation
// message_sent (the sample's is "added"): data is {"message": {"mentions",
// "type", "text", "comment"}, "time"}, with no message id, time or sender
// inside data.message; the sender is params.user.
func sampleMessageSent(t *testing.T, edit func(call map[string]any)) []byte {
	return editJSON(t, fixture(t, "zcatalyst_participation_handler.json"), func(call map[string]any) {
		obj(call, "params")["operation"] = "message_sent"
		if edit != nil {
			edit(call)
		}
	})
}

// A message Cliq's participation handler reports in Zoho's own shape is
// message.posted: the time from data.time (else the call's timestamp),
// the sender from params.user, the id from params.access.message_id or
// else <time>_<user id>. It yielded nothing: data.time was dropped and the
// message was not completed, so it had no id and no time.
func TestParticipationZohoSample(t *testing.T) {
	t.Parallel()
	c, conn, sb := sampleEnv(t)
	const chat = "CD_1256246524399772951_1741337"
	for _, tc := range []struct {
		name    string
		edit    func(call map[string]any)
		at      int64
		subject string
		aliases []string
	}{
		{name: "as Zoho sends it", at: 1569520690703, subject: "1569520690703_123456"},
		{name: "no data.time: the call's timestamp", edit: func(call map[string]any) {
			delete(obj(call, "params", "data"), "time")
			call["timestamp"] = json.Number("1569520699999")
		}, at: 1569520699999, subject: "1569520699999_123456"},
		{name: "with params.access.message_id", edit: func(call map[string]any) {
			obj(call, "params", "access")["message_id"] = "1569520690703_51531973100"
		}, at: 1569520690703, subject: "1569520690703_51531973100", aliases: []string{"msg:" + chat + ":1569520690703_51531973100"}},
	} {
		d := parseSigned(t, c, conn, sb, sampleMessageSent(t, tc.edit))
		require.Equal(t, []string{"chat:" + testTenant + ":60040386526:" + chat}, d.RouteKeys, tc.name)
		require.Equal(t, "participation.message_sent", d.Event)
		require.Len(t, d.Signals, 1, "%s: message_sent in a proved channel is message.posted", tc.name)
		s := d.Signals[0]
		require.NoError(t, connectors.ValidateSignal(Spec, s))
		require.Equal(t, "message.posted", s.Kind)
		require.Equal(t, "msg:"+chat+":"+strconv.FormatInt(tc.at, 10)+"_"+sampleUser, s.DedupeKey, "%s: the key a poll gives the same message (time and sender)", tc.name)
		require.Equal(t, tc.aliases, s.AliasKeys, tc.name)
		require.Equal(t, time.UnixMilli(tc.at).UTC(), s.OccurredAt.UTC(), tc.name)
		require.Equal(t, connectors.Actor{ID: sampleUser, Name: "Scott Fisher"}, s.Payload.Actor, tc.name)
		require.Equal(t, "Hi", s.Payload.Title)
		require.Equal(t, "Hi", s.Payload.Attributes["text"])
		require.Equal(t, connectors.Ref{Type: "message", ID: tc.subject}, s.Payload.Subject, tc.name)
		require.Equal(t, connectors.Ref{Type: "channel", ID: chat, Name: "#Catalyst"}, s.Payload.Context)
		require.Equal(t, "https://cliq.zoho.com/chats/"+chat, s.Payload.URL)
	}
}

// A live message and the poll of the same message share their key, so the
// message is stored once whichever comes first: Zoho's participation call
// names no message id, so a message's key is its time and sender
// (msg:<chat>:<ms>_<sender>), and a polled Signal also carries its id's
// key as an alias. The poll's key was msg:<chat>:<id>: the live Signal and
// the later poll of the same message were two Signals.
func TestLiveAndPolledMessageShareKey(t *testing.T) {
	t.Parallel()
	const chat = "CT_1207124540483314854_20071845"
	var ans struct {
		Data []json.RawMessage `json:"data"`
	}
	require.NoError(t, json.Unmarshal(fixture(t, "messages_v2.json"), &ans))
	var polled connectors.Signal
	for _, raw := range ans.Data {
		var m message
		require.NoError(t, json.Unmarshal(raw, &m))
		if m.ID == "1773813859592_51531973059" {
			s, ok := messageSignal(where{Chat: chat}, &m, raw)
			require.True(t, ok)
			polled = s
		}
	}
	require.Equal(t, "msg:"+chat+":1773813859592_60040396507", polled.DedupeKey)
	require.Equal(t, []string{"msg:" + chat + ":1773813859592_51531973059"}, polled.AliasKeys)
	require.Equal(t, connectors.Ref{Type: "message", ID: "1773813859592_51531973059"}, polled.Payload.Subject, "the subject is still the message id")

	// The same message as the participation handler reports it.
	c, conn, sb := hookEnv(t, nil)
	body := sampleMessageSent(t, func(call map[string]any) {
		p := obj(call, "params")
		obj(p, "access", "organization")["id"] = zohosandbox.OrgEU
		obj(p, "chat")["id"] = chat
		obj(p, "user")["id"] = "60040396507"
		obj(p, "data")["time"] = json.Number("1773813859592")
	})
	d := parseSigned(t, c, conn, sb, body)
	require.Len(t, d.Signals, 1)
	require.Equal(t, polled.DedupeKey, d.Signals[0].DedupeKey, "one key for one message")
}

// Zoho's mention sample names the sender by first_name and last_name
// only (no name): the actor is "Scott Fisher". The name was dropped.
func TestMentionZohoSample(t *testing.T) {
	t.Parallel()
	c, conn, sb := sampleEnv(t)
	const chat = "CT_1256246524399772951_1741337"
	body := fixture(t, "zcatalyst_mention_handler.json")
	for name, b := range map[string][]byte{
		"as Zoho sends it": body,
		// A sender with its id only: the name comes from params.user, the
		// same user.
		"sender by id only": editJSON(t, body, func(call map[string]any) {
			obj(call, "params", "message")["sender"] = map[string]any{"id": sampleUser}
		}),
	} {
		d := parseSigned(t, c, conn, sb, b)
		require.Equal(t, []string{"mentions:" + testTenant + ":60040386526"}, d.RouteKeys, name)
		require.Len(t, d.Signals, 1, name)
		s := d.Signals[0]
		require.NoError(t, connectors.ValidateSignal(Spec, s))
		require.Equal(t, connectors.Actor{ID: sampleUser, Name: "Scott Fisher"}, s.Payload.Actor, name)
		require.Equal(t, "mention:"+chat+":1493707283711_"+sampleUser, s.DedupeKey, name)
		require.Equal(t, time.UnixMilli(1493707283711).UTC(), s.OccurredAt.UTC(), name)
		require.Equal(t, []string{"b-1775998000015152705"}, s.Payload.Attributes["mentioned_users"], name)
		require.Equal(t, "Mentioned in #Catalyst: Hi", s.Payload.Title, name)
	}
}

// Each bot call is its own delivery. Zoho's handler calls name no message
// id, so the delivery id names the call's timestamp and the message it is
// about (its completed id, <sent time>_<sender id>): two calls about two
// messages, whose calls carry one timestamp, are two deliveries, and both
// are stored. The same call sent again is the same delivery, and two calls
// about one message (a message edited twice) stay two. The delivery id
// was the call's timestamp alone, so the second of two such calls was
// answered as a duplicate and its mention or message never stored.
func TestBotCallDeliveryIDs(t *testing.T) {
	t.Parallel()
	c, conn, sb := sampleEnv(t)
	const chat = "CT_1256246524399772951_1741337"
	mention := func(user, sent string) []byte {
		return editJSON(t, fixture(t, "zcatalyst_mention_handler.json"), func(call map[string]any) {
			obj(call, "params", "user")["id"] = user
			obj(call, "params", "message")["time"] = sent
			obj(call, "params", "message", "sender")["id"] = user
		})
	}
	participation := func(op, user, sent, ts string) []byte {
		return sampleMessageSent(t, func(call map[string]any) {
			call["timestamp"] = json.Number(ts)
			obj(call, "params")["operation"] = op
			obj(call, "params", "user")["id"] = user
			obj(call, "params", "data")["time"] = json.Number(sent)
		})
	}
	parse := func(body []byte) *connectors.WebhookDelivery { return parseSigned(t, c, conn, sb, body) }

	// As Zoho sends it: the call's timestamp and the message it is about.
	d := parse(fixture(t, "zcatalyst_mention_handler.json"))
	require.Equal(t, "cliq:"+testTenant+":60040386526:mention::"+chat+":t1569520690703:1493707283711_"+sampleUser, d.DeliveryID)

	// Two users mention the bot; both calls carry the timestamp 1569520690703.
	a, b := parse(mention("123456", "1493707283711")), parse(mention("654321", "1493707283712"))
	require.Len(t, a.Signals, 1)
	require.Len(t, b.Signals, 1)
	require.NotEqual(t, a.Signals[0].DedupeKey, b.Signals[0].DedupeKey)
	require.NotEqual(t, a.DeliveryID, b.DeliveryID, "two mentions, two deliveries")
	require.Equal(t, a.DeliveryID, parse(mention("123456", "1493707283711")).DeliveryID, "the same call again is the same delivery")

	// Two messages in one channel, heard in calls of one timestamp.
	const ts = "1569520690703"
	p, q := parse(participation("message_sent", "123456", "1569520690701", ts)), parse(participation("message_sent", "654321", "1569520690702", ts))
	require.Len(t, p.Signals, 1)
	require.Len(t, q.Signals, 1)
	require.NotEqual(t, p.DeliveryID, q.DeliveryID, "two messages, two deliveries")
	require.Equal(t, p.DeliveryID, parse(participation("message_sent", "123456", "1569520690701", ts)).DeliveryID, "the same call again is the same delivery")

	// One message edited twice: two calls about it, at two timestamps.
	e1, e2 := parse(participation("message_edited", "123456", "1569520690701", "1569520699000")),
		parse(participation("message_edited", "123456", "1569520690701", "1569520699500"))
	require.Empty(t, e1.Signals)
	require.NotEqual(t, e1.DeliveryID, e2.DeliveryID, "two edits, two deliveries")
}

// The sandbox's bot calls have Zoho's shapes (the participation handler's
// message in params.data without id, time or sender; the mention
// handler's sender named by first and last name, no message id), and
// what they deliver has the keys polling gives the same message, so the
// conformance suite and the end-to-end run cover Zoho's shapes. The
// sandbox sent REST messages (id, time, sender) to both handlers.
func TestSandboxBotCallsMatchPolling(t *testing.T) {
	t.Parallel()
	f := newFake(t, zohosandbox.Options{Seed: true}, fast(nil))
	conn, tok := f.connect(t, "", adaConfig)
	hc := f.client(tok.AccessToken)
	u, err := url.Parse(f.conn.ConnectionWebhookURL(conn))
	require.NoError(t, err)
	parse := func(call zohosandbox.BotCall) connectors.Signal {
		t.Helper()
		req := &connectors.WebhookRequest{Header: call.Header, Body: call.Body, Query: u.Query(), Now: time.Now()}
		require.NoError(t, f.conn.VerifyWebhook(req))
		d, err := f.conn.ParseWebhook(req)
		require.NoError(t, err)
		require.Len(t, d.Signals, 1, call.Handler)
		return d.Signals[0]
	}
	ch, ok := f.sb.Channel(zohosandbox.ChatLaunch)
	require.True(t, ok)
	_, msg, err := f.sb.Post(zohosandbox.MessageInput{Chat: zohosandbox.ChatLaunch, User: zohosandbox.UserMarco,
		Text: "press kit is final", Mentions: []string{zohosandbox.UserAda}, MentionBot: true})
	require.NoError(t, err)
	marco := connectors.Actor{ID: zohosandbox.UserMarco, Name: "Marco Rossi"}

	call := f.sb.Call(zohosandbox.HandlerParticipation, "message_sent", ch, msg, msg.Sender)
	var sent struct {
		Params struct {
			Message json.RawMessage `json:"message"`
			User    map[string]any  `json:"user"`
			Data    struct {
				Message map[string]any `json:"message"`
				Time    json.Number    `json:"time"`
			} `json:"data"`
		} `json:"params"`
	}
	require.NoError(t, json.Unmarshal(call.Body, &sent))
	require.Nil(t, sent.Params.Message, "the participation handler's message is in params.data only")
	for _, k := range []string{"id", "time", "sender"} {
		require.NotContains(t, sent.Params.Data.Message, k)
	}
	require.Equal(t, strconv.FormatInt(msg.Time, 10), sent.Params.Data.Time.String())
	require.NotContains(t, sent.Params.User, "name", "Zoho's users carry first_name and last_name")
	live := parse(call)
	require.Equal(t, "message.posted", live.Kind)
	require.Equal(t, marco, live.Payload.Actor)
	require.Equal(t, msg.Time, live.OccurredAt.UnixMilli())

	mcall := f.sb.Call(zohosandbox.HandlerMention, "", ch, msg, msg.Sender)
	var mentioned struct {
		Params struct {
			Message map[string]any `json:"message"`
		} `json:"params"`
	}
	require.NoError(t, json.Unmarshal(mcall.Body, &mentioned))
	require.NotContains(t, mentioned.Params.Message, "id")
	require.Equal(t, strconv.FormatInt(msg.Time, 10), mentioned.Params.Message["time"], "a string, as in Zoho's sample")
	require.NotContains(t, mentioned.Params.Message["sender"], "name")
	liveMention := parse(mcall)
	require.Equal(t, "mention.created", liveMention.Kind)
	require.Equal(t, marco, liveMention.Payload.Actor)

	find := func(sigs []connectors.Signal, kind string) connectors.Signal {
		t.Helper()
		for _, s := range sigs {
			if s.Kind == kind && s.Payload.Subject.ID == msg.ID {
				return s
			}
		}
		require.Failf(t, "not polled", "%s of %s", kind, msg.ID)
		return connectors.Signal{}
	}
	polled, _ := f.drain(t, conn, hc, "messages:"+zohosandbox.UniqueLaunch, nil)
	p := find(polled, "message.posted")
	require.Equal(t, live.DedupeKey, p.DedupeKey, "a live message and its poll are one Signal")
	require.Equal(t, []string{"msg:" + zohosandbox.ChatLaunch + ":" + msg.ID}, p.AliasKeys)
	mentions, _ := f.drain(t, conn, hc, mentionsStream, nil)
	pm := find(mentions, "mention.created")
	require.Equal(t, liveMention.DedupeKey, pm.DedupeKey, "a live mention and its poll are one Signal")
	require.Equal(t, []string{"mention:" + zohosandbox.ChatLaunch + ":" + msg.ID}, pm.AliasKeys)
}
