package zohocliq

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/poblysh/poblysh/connectors"
)

// where is what a message's Signals say about its channel.
type where struct {
	Host     string // Cliq host of the DC, for links
	Chat     string // chat id
	ChatName string // "#launch-room"
}

// context is the channel: its name, or its id when the call named none
// (a context always has a name, connectors.ValidateSignal).
func (w where) context() connectors.Ref {
	return connectors.Ref{Type: "channel", ID: w.Chat, Name: cmpOr(w.ChatName, w.Chat)}
}

// Dedupe keys; the same whether a happening came by bot call or by polling.
// A message's own keys (message.posted, mention.created) name it by its
// sent time and sender (sentKey), since Zoho's bot calls name no message
// id; the message id's key is an alias.
func messageKey(chat, id string) string { return "msg:" + chat + ":" + id }

func reactionKey(chat, id, emoji, user string) string {
	return "reaction:" + chat + ":" + id + ":" + emoji + ":" + user
}

func mentionKey(chat, id string) string { return "mention:" + chat + ":" + id }

// sentKey names a message in its keys: "<sent ms>_<sender id>". Cliq's
// participation handler names no message id (Zoho's sample: data is
// {"message": {"type", "text", "mentions"}, "time"}, the sender is
// params.user), and a message id is "<sent ms>_<number>" whose number is
// not the sender's, so time and sender are what a bot call and a poll of
// the same message share (one user sends one message a millisecond). The
// sent time is the id's milliseconds (exact; Zoho's Message Details
// example gives the same "time"), else the message's time (a polled
// mention's with a float id: its entry id's, see fetchMentions); the
// message id when the time or the sender is unknown.
func (m *message) sentKey() string {
	at, ok := idTime(m.ID.String())
	if !ok {
		at, ok = m.at()
	}
	if !ok || m.Sender.ID == "" {
		return m.ID.String()
	}
	return strconv.FormatInt(at.UnixMilli(), 10) + "_" + m.Sender.ID.String()
}

// keysOf is a message's dedupe key, key(chat, sentKey), and, when its id
// is another, the id's key as alias (the key earlier versions gave it):
// once this Signal is stored, a later one under the id's key (an earlier
// version's worker during a rolling deploy) is a duplicate.
// The alias does not work backwards: a Signal stored before under the id's
// key blocks this one only through the alias migration 0031 gave it (the
// new key, built in SQL as sentKey builds it).
func keysOf(key func(chat, id string) string, chat string, m *message) (string, []string) {
	k := m.sentKey()
	if id := m.ID.String(); id != "" && id != k {
		return key(chat, k), []string{key(chat, id)}
	}
	return key(chat, k), nil
}

// messageSignal normalizes a channel message into message.posted. Bots'
// messages, and messages without id or time, yield nothing.
func messageSignal(w where, m *message, raw json.RawMessage) (connectors.Signal, bool) {
	at, ok := m.at()
	if m.ID == "" || !ok || m.fromBot() {
		return connectors.Signal{}, false
	}
	text := render(m.text(), m.names())
	attrs := map[string]any{"channel_id": w.Chat, "ts": m.ID.String(), "text": text,
		"is_thread_reply": strings.Contains(w.Chat, "-T-")}
	if m.Type != "" && m.Type != "text" {
		attrs["subtype"] = m.Type
		if m.Type == "file" {
			attrs["files"] = 1
		}
	}
	key, aliases := keysOf(messageKey, w.Chat, m)
	return connectors.Signal{
		Kind:       "message.posted",
		OccurredAt: at,
		DedupeKey:  key,
		AliasKeys:  aliases,
		Payload: connectors.Payload{
			Title:      title(text, "Shared a "+cmpOr(m.Type, "message")),
			URL:        permalink(w.Host, w.Chat),
			Actor:      connectors.Actor{ID: m.Sender.ID.String(), Name: m.Sender.Name},
			Subject:    connectors.Ref{Type: "message", ID: m.ID.String()},
			Context:    w.context(),
			Attributes: attrs,
		},
		Raw: raw,
	}, true
}

// reactionSignal normalizes one (message, emoji, user). A reaction in
// other forms than Zoho's documented one may carry no time: then the time
// the poll first saw it (seen) stands in. A reaction in Zoho's form
// matches the key an earlier version stored it under (its whole string as
// the user's id), so reading it again stores nothing unless the user was
// renamed since.
func reactionSignal(w where, m *message, r reaction, seen time.Time, raw json.RawMessage) connectors.Signal {
	at := r.At
	if at.IsZero() {
		at = seen
	}
	var match []string
	if r.Was != "" {
		match = []string{reactionKey(w.Chat, m.ID.String(), r.Emoji, r.Was)}
	}
	return connectors.Signal{
		Kind:       "reaction.added",
		OccurredAt: at,
		DedupeKey:  reactionKey(w.Chat, m.ID.String(), r.Emoji, r.UserID),
		MatchKeys:  match,
		Payload: connectors.Payload{
			Title:   fmt.Sprintf("Reacted %s to a message", r.Emoji),
			URL:     permalink(w.Host, w.Chat),
			Actor:   connectors.Actor{ID: r.UserID, Name: r.UserName},
			Subject: connectors.Ref{Type: "message", ID: m.ID.String()},
			Context: w.context(),
			Attributes: map[string]any{"reaction": r.Emoji, "item_ts": m.ID.String(), "channel_id": w.Chat,
				"item_user": m.Sender.ID.String()},
		},
		Raw: raw,
	}
}

// mentionSignal builds mention.created for a message that mentions
// mentioned (user or bot ids), in chat.
func mentionSignal(host, chat, chatTitle string, m *message, mentioned []string, raw json.RawMessage) (connectors.Signal, bool) {
	at, ok := m.at()
	if m.ID == "" || chat == "" || !ok {
		return connectors.Signal{}, false
	}
	text := render(m.text(), m.names())
	name := chatTitle
	if name != "" && !strings.HasPrefix(name, "#") {
		name = "#" + name
	}
	where := "a chat"
	if name != "" {
		where = name
	}
	key, aliases := keysOf(mentionKey, chat, m)
	return connectors.Signal{
		Kind:       "mention.created",
		OccurredAt: at,
		DedupeKey:  key,
		AliasKeys:  aliases,
		Payload: connectors.Payload{
			Title:   trunc("Mentioned in "+where+": "+title(text, "(no text)"), 160),
			URL:     permalink(host, chat),
			Actor:   connectors.Actor{ID: m.Sender.ID.String(), Name: m.Sender.Name},
			Subject: connectors.Ref{Type: "message", ID: m.ID.String()},
			Context: connectors.Ref{Type: "chat", ID: chat, Name: cmpOr(strings.TrimPrefix(name, "#"), chat)},
			Attributes: map[string]any{"chat_id": chat, "message_id": m.ID.String(), "mentioned_users": mentioned,
				"text": text},
		},
		Raw: raw,
	}, true
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
