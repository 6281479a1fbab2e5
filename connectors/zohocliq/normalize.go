package zohocliq

import (
	"encoding/json"
	"fmt"
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

func (w where) context() connectors.Ref {
	return connectors.Ref{Type: "channel", ID: w.Chat, Name: w.ChatName}
}

// Dedupe keys; the same whether a happening came by bot call or by polling.
func messageKey(chat, id string) string { return "msg:" + chat + ":" + id }

func reactionKey(chat, id, emoji, user string) string {
	return "reaction:" + chat + ":" + id + ":" + emoji + ":" + user
}

func mentionKey(chat, id string) string { return "mention:" + chat + ":" + id }

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
	return connectors.Signal{
		Kind:       "message.posted",
		OccurredAt: at,
		DedupeKey:  messageKey(w.Chat, m.ID.String()),
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

// reactionSignal normalizes one (message, emoji, user). Cliq gives no time
// for most reactions: then the time the poll first saw it (seen) stands in.
func reactionSignal(w where, m *message, r reaction, seen time.Time, raw json.RawMessage) connectors.Signal {
	at := r.At
	if at.IsZero() {
		at = seen
	}
	return connectors.Signal{
		Kind:       "reaction.added",
		OccurredAt: at,
		DedupeKey:  reactionKey(w.Chat, m.ID.String(), r.Emoji, r.UserID),
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
	return connectors.Signal{
		Kind:       "mention.created",
		OccurredAt: at,
		DedupeKey:  mentionKey(chat, m.ID.String()),
		Payload: connectors.Payload{
			Title:   trunc("Mentioned in "+where+": "+title(text, "(no text)"), 160),
			URL:     permalink(host, chat),
			Actor:   connectors.Actor{ID: m.Sender.ID.String(), Name: m.Sender.Name},
			Subject: connectors.Ref{Type: "message", ID: m.ID.String()},
			Context: connectors.Ref{Type: "chat", ID: chat, Name: strings.TrimPrefix(name, "#")},
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
