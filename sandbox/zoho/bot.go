package zohosandbox

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/poblysh/poblysh/sandbox"
)

// Bot handler calls. A webhook-type bot (execution type "webhook") makes
// Cliq POST each handler's invocation to the bot's execution URL, signed
// with X-Cliq-Signature: base64 RSA-SHA256 of the body with the
// extension's key (the receiver verifies with the public key). The body has
// the shape of Cliq's handler payloads (zcatalyst-cli templates,
// templates/event/integ/cliq/…): name, handler, type, timestamp and params
// with environment, access, user, chat and the handler's own attributes.

// Handler types.
const (
	HandlerParticipation = "participation_handler"
	HandlerMention       = "mention_handler"
	HandlerMessage       = "message_handler"
)

// BotCall is one signed handler invocation, ready to send.
type BotCall struct {
	Handler string
	Body    []byte
	Header  http.Header
}

// Sign signs body the way Cliq signs bot calls.
func (s *Server) Sign(body []byte) string {
	sum := sha256.Sum256(body)
	sig, err := rsa.SignPKCS1v15(rand.Reader, s.opts.Key, crypto.SHA256, sum[:])
	if err != nil {
		panic("zohosandbox: signing: " + err.Error())
	}
	return base64.StdEncoding.EncodeToString(sig)
}

// Call builds a signed call of handler for a message in a channel, as
// user: the participation handler with an operation (message_sent,
// message_edited, message_deleted, added, removed), the mention handler
// (the bot was @mentioned) or the message handler (a direct message).
// Each names the message as Zoho's samples of that handler do
// (zcatalyst-cli 1.25.3, templates/event/integ/cliq/bot/), never as the
// REST API does (no message id anywhere; the sender is params.user):
//   - participation: params.data {"message": {"type", "text", "mentions"},
//     "time": <ms>} (no id, time or sender inside the message);
//   - mention: params.message {"sender": {"id", "first_name",
//     "last_name", "email", …}, "time": "<ms>", "text", "type"} (no id, no
//     name) and params.mentions;
//   - message: params.message the text, params.message_details
//     {"message": {…}, "time": <ms>}.
//
// Users are named by first_name and last_name only, as in Zoho's samples.
func (s *Server) Call(handler, operation string, ch *Channel, m *Message, user string) BotCall {
	u, ok := s.user(user)
	if !ok {
		u = &User{ZUID: user, OrgID: ch.OrgID, DC: ch.DC}
	}
	params := map[string]any{
		"environment": map[string]any{"tld": "." + apiSuffix[ch.DC], "data_center": ch.DC, "base_url": "https://cliq.zoho." + apiSuffix[ch.DC] + "/company/" + ch.OrgID},
		"access": map[string]any{
			"user_id": u.ZUID, "zoho_user_id": u.ZUID, "user_agent": "Mozilla/5.0 (Macintosh) ZohoCliq", "chat_id": ch.ChatID,
			"organization": map[string]any{"type": "company", "id": ch.OrgID},
		},
		"user": map[string]any{
			"id": u.ZUID, "zoho_user_id": u.ZUID, "first_name": u.First, "last_name": u.Last, "email": u.Email,
			"admin": false, "organization_id": ch.OrgID, "timezone": u.TimeZone, "country": "germany", "language": "en",
		},
		"chat": map[string]any{
			"id": ch.ChatID, "type": "channel", "title": ch.Name, "owner": UserPriya, "channel_id": ch.ChannelID,
			"channel_unique_name": ch.UniqueName, "unique_name": ch.UniqueName, "participant_count": len(ch.Members),
		},
	}
	var inner map[string]any // the message as the handler's samples name it
	if m != nil {
		inner = map[string]any{"type": m.Type, "text": m.Text, "mentions": s.mentionsJSON(m)}
	}
	switch handler {
	case HandlerParticipation:
		params["operation"] = operation
		data := map[string]any{}
		if m != nil {
			data["message"], data["time"] = inner, m.Time
		}
		params["data"] = data
	case HandlerMention:
		mentions := []map[string]any{}
		if m != nil {
			params["message"] = map[string]any{"sender": s.senderJSON(m), "time": MessageTime(m), "text": m.Text, "type": m.Type}
			mentions = s.mentionsJSON(m)
		}
		params["mentions"] = append(mentions, map[string]any{"id": BotID, "name": BotName, "type": "bot", "unique_name": BotUniqueName})
	case HandlerMessage:
		if m != nil {
			params["message"], params["raw_message"] = m.Text, m.Text
			params["message_details"] = map[string]any{"message": inner, "time": m.Time}
			params["mentions"] = inner["mentions"]
		}
	}
	body, _ := json.Marshal(map[string]any{
		"name": BotName, "unique_name": BotUniqueName,
		"handler":   map[string]any{"type": handler, "name": handler},
		"type":      "bot",
		"timestamp": s.now().UnixMilli(),
		"params":    params,
	})
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "ZohoCliq")
	h.Set("X-Cliq-Signature", s.Sign(body))
	return BotCall{Handler: handler, Body: body, Header: h}
}

// senderJSON is a message's sender as the mention handler's sample gives
// it: first and last name, no name (a bot: its name).
func (s *Server) senderJSON(m *Message) map[string]any {
	u, ok := s.user(m.Sender)
	if !ok {
		return map[string]any{"id": m.Sender, "name": m.SenderName}
	}
	return map[string]any{"id": u.ZUID, "first_name": u.First, "last_name": u.Last, "email": u.Email,
		"timezone": u.TimeZone, "country": "germany", "language": "en"}
}

// mentionsJSON is the users a message mentions, {id, name, type}.
func (s *Server) mentionsJSON(m *Message) []map[string]any {
	out := []map[string]any{}
	for _, z := range m.Mentions {
		if u, ok := s.user(z); ok {
			out = append(out, map[string]any{"id": z, "name": u.Name(), "type": "user"})
		}
	}
	return out
}

// deliver sends a bot call to the execution URL (none set: not sent).
func (s *Server) deliver(ctx context.Context, c BotCall) []sandbox.Result {
	u := s.BotURL()
	if u == "" {
		return nil
	}
	d := &sandbox.Deliverer{}
	d.SetTarget(u)
	return d.Send(ctx, sandbox.Delivery{Header: c.Header, Body: c.Body}, sandbox.DeliveryOptions{})
}

// PostAndDeliver posts a message and makes the bot calls Cliq would: the
// participation handler's message_sent when the bot listens in the
// channel, and the mention handler when the message mentions the bot.
func (s *Server) PostAndDeliver(ctx context.Context, in MessageInput) (*Message, []sandbox.Result, error) {
	ch, m, err := s.Post(in)
	if err != nil {
		return nil, nil, err
	}
	var out []sandbox.Result
	s.cliq.mu.Lock()
	listens := ch.Bot
	s.cliq.mu.Unlock()
	if listens {
		out = append(out, s.deliver(ctx, s.Call(HandlerParticipation, "message_sent", ch, m, m.Sender))...)
	}
	if in.MentionBot && listens {
		out = append(out, s.deliver(ctx, s.Call(HandlerMention, "", ch, m, m.Sender))...)
	}
	return m, out, nil
}

// MessageTime is a message's time as Cliq's handler payloads carry it.
func MessageTime(m *Message) string { return strconv.FormatInt(m.Time, 10) }
