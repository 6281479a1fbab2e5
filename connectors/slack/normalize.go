package slack

import (
	"cmp"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	slackapi "github.com/slack-go/slack"

	"github.com/poblysh/poblysh/connectors"
)

// Signal kinds Slack produces.
const (
	kindMessage  = "message.posted"
	kindReaction = "reaction.added"
)

// where locates a message for the normalizers.
type where struct {
	// Channel is the channel id.
	Channel string
	// Domain is the workspace host for permalinks ("acme.slack.com"); empty
	// uses slack.com, which redirects signed-in users to their workspace.
	Domain string
	// Names are the user and channel names known for this page, and which
	// users are bots (actor.bot); nil knows none (ids are shown instead).
	Names *names
}

// context is the Signal's channel: its name, or its id when no name is
// known (a webhook parsed before any sync of this process cached it, a
// channel Slack does not name), as titles show it: a context always has a
// name (connectors.ValidateSignal).
func (w where) context() connectors.Ref {
	return connectors.Ref{Type: "channel", ID: w.Channel, Name: cmp.Or(w.Names.name(w.Channel), w.Channel)}
}

// keptSubtypes are the message subtypes that are a person saying
// something. Everything else is skipped: bot_message, message_changed,
// message_deleted, channel_join/leave and other housekeeping (an allowlist,
// so new Slack subtypes stay out until someone decides otherwise).
var keptSubtypes = map[string]bool{"": true, "thread_broadcast": true, "file_share": true, "me_message": true}

// skipMessage reports whether m yields no message.posted Signal: messages
// from bots and apps (bot_id set, whatever the subtype), hidden messages,
// subtypes outside keptSubtypes and messages without an author.
func skipMessage(m *slackapi.Msg) bool {
	return m.BotID != "" || m.Hidden || !keptSubtypes[m.SubType] || m.User == ""
}

// messageSignals normalizes one message from conversations.history,
// conversations.replies or a message event: a message.posted Signal unless
// skipMessage says otherwise, then one reaction.added per (reaction, user)
// the message carries, whoever wrote it (a person reacting to a bot's post
// is a person's activity, and the reaction_added event yields it too).
// Slack does not say when a reaction was added, so those Signals carry the
// message's time, and link where the message's own Signal does (with
// thread_ts for a thread reply). raw is the message object as Slack sent
// it.
func messageSignals(w where, m *slackapi.Msg, raw json.RawMessage) ([]connectors.Signal, error) {
	var out []connectors.Signal
	at, err := parseTS(m.Timestamp)
	if err != nil {
		return nil, fmt.Errorf("slack: message in %s: %w", w.Channel, err)
	}
	if !skipMessage(m) {
		out = append(out, postedSignal(w, m, at, raw))
	}
	if len(m.Reactions) == 0 {
		return out, nil
	}
	var rs struct {
		Reactions []json.RawMessage `json:"reactions"`
	}
	_ = json.Unmarshal(raw, &rs)
	for i, r := range m.Reactions {
		var rawR json.RawMessage
		if i < len(rs.Reactions) {
			rawR = rs.Reactions[i]
		}
		for _, u := range r.Users {
			out = append(out, reactionSignal(w, m.Timestamp, m.ThreadTimestamp, m.User, u, r.Name, at, rawR))
		}
		if r.Count > len(r.Users) {
			out = append(out, othersSignal(w, m.Timestamp, m.ThreadTimestamp, m.User, r.Name, r.Count, len(r.Users), at, rawR))
		}
	}
	return out, nil
}

// othersSignal counts the people a truncated reaction does not list: Slack
// caps a reaction's users list while count stays exact, so the reactions
// beyond the list are one reaction.added without an actor, carrying count
// (everyone) and others (the unlisted). Its dedupe key is per reaction: a
// later, larger count is not stored again.
func othersSignal(w where, itemTS, threadTS, itemUser, reaction string, count, listed int, at time.Time, raw json.RawMessage) connectors.Signal {
	s := reactionSignal(w, itemTS, threadTS, itemUser, "", reaction, at, raw)
	others := count - listed
	s.DedupeKey = fmt.Sprintf("reaction:%s:%s:others:%s", w.Channel, itemTS, reaction)
	s.Payload.Actor = connectors.Actor{}
	s.Payload.Title = fmt.Sprintf("%d more people reacted :%s: to a message", others, reaction)
	if others == 1 {
		s.Payload.Title = fmt.Sprintf("1 more person reacted :%s: to a message", reaction)
	}
	s.Payload.Attributes["count"] = count
	s.Payload.Attributes["others"] = others
	return s
}

func postedSignal(w where, m *slackapi.Msg, at time.Time, raw json.RawMessage) connectors.Signal {
	reply := m.ThreadTimestamp != "" && m.ThreadTimestamp != m.Timestamp
	attrs := map[string]any{
		"channel_id":      w.Channel,
		"ts":              m.Timestamp,
		"is_thread_reply": reply,
		"text":            m.Text,
	}
	if m.ThreadTimestamp != "" {
		attrs["thread_ts"] = m.ThreadTimestamp
	}
	if m.SubType != "" {
		attrs["subtype"] = m.SubType
	}
	if m.ReplyCount > 0 {
		attrs["reply_count"] = m.ReplyCount
	}
	if len(m.Files) > 0 {
		attrs["files"] = len(m.Files)
	}
	return connectors.Signal{
		Kind:       kindMessage,
		OccurredAt: at,
		DedupeKey:  messageKey(w.Channel, m.Timestamp),
		Payload: connectors.Payload{
			Title:      messageTitle(w, m),
			URL:        permalink(w, m.Timestamp, m.ThreadTimestamp),
			Actor:      connectors.Actor{ID: m.User, Name: w.Names.name(m.User), Bot: w.Names.bot(m.User)},
			Subject:    connectors.Ref{Type: "message", ID: m.Timestamp},
			Context:    w.context(),
			Attributes: attrs,
		},
		Raw: raw,
	}
}

// messageKey is the dedupe key of a message's message.posted Signal.
func messageKey(channel, ts string) string { return "msg:" + channel + ":" + ts }

// reactionSignal is one user's reaction to the message at itemTS, in the
// thread threadTS when known (the message's thread_ts; a reaction_added
// event names none), which the permalink carries as the message's own does
// (permalink). The dedupe key is the same from a reaction_added event and
// from a backfilled message's reactions[].
func reactionSignal(w where, itemTS, threadTS, itemUser, user, reaction string, at time.Time, raw json.RawMessage) connectors.Signal {
	attrs := map[string]any{"reaction": reaction, "item_ts": itemTS, "channel_id": w.Channel}
	if itemUser != "" {
		attrs["item_user"] = itemUser
	}
	return connectors.Signal{
		Kind:       kindReaction,
		OccurredAt: at,
		DedupeKey:  fmt.Sprintf("reaction:%s:%s:%s:%s", w.Channel, itemTS, user, reaction),
		Payload: connectors.Payload{
			Title:      fmt.Sprintf("Reacted :%s: to a message", reaction),
			URL:        permalink(w, itemTS, threadTS),
			Actor:      connectors.Actor{ID: user, Name: w.Names.name(user), Bot: w.Names.bot(user)},
			Subject:    connectors.Ref{Type: "message", ID: itemTS},
			Context:    w.context(),
			Attributes: attrs,
		},
		Raw: raw,
	}
}

// permalink builds a message link without chat.getPermalink, which would
// cost one Web API call per message:
// https://<domain>/archives/<channel>/p<ts without the dot>, plus
// ?thread_ts=…&cid=… for thread replies (Slack's own permalink shape).
func permalink(w where, ts, threadTS string) string {
	host := w.Domain
	if host == "" {
		host = "slack.com"
	}
	u := fmt.Sprintf("https://%s/archives/%s/p%s", host, w.Channel, strings.Replace(ts, ".", "", 1))
	if threadTS != "" && threadTS != ts {
		u += "?thread_ts=" + threadTS + "&cid=" + w.Channel
	}
	return u
}

const titleRunes = 80

// messageTitle is a short single-line excerpt of the text with Slack
// markup made readable (renderText), or a description when the text is
// empty.
func messageTitle(w where, m *slackapi.Msg) string {
	t := renderText(m.Text, w.Names)
	t = strings.Join(strings.Fields(t), " ")
	if utf8.RuneCountInString(t) > titleRunes {
		r := []rune(t)
		t = strings.TrimSpace(string(r[:titleRunes-1])) + "…"
	}
	switch {
	case t != "":
		return t
	case len(m.Files) > 0:
		name := m.Files[0].Title
		if name == "" {
			name = m.Files[0].Name
		}
		return "Shared a file: " + name
	}
	if name := w.Names.name(w.Channel); name != "" {
		return "Message in #" + name
	}
	return "Message in " + w.Channel
}

// parseTS reads a Slack ts ("1767269400.000100": seconds, microseconds).
func parseTS(ts string) (time.Time, error) {
	sec, frac, _ := strings.Cut(ts, ".")
	s, err := strconv.ParseInt(sec, 10, 64)
	if err != nil || s <= 0 || len(frac) > 9 {
		return time.Time{}, fmt.Errorf("invalid ts %q", ts)
	}
	var ns int64
	if frac != "" {
		f, err := strconv.ParseInt(frac, 10, 64)
		if err != nil || f < 0 {
			return time.Time{}, fmt.Errorf("invalid ts %q", ts)
		}
		for i := len(frac); i < 9; i++ {
			f *= 10
		}
		ns = f
	}
	return time.Unix(s, ns).UTC(), nil
}

// tsAfter reports whether ts a is strictly after b; every ts is after "".
func tsAfter(a, b string) bool {
	if b == "" {
		return a != ""
	}
	ta, errA := parseTS(a)
	tb, errB := parseTS(b)
	if errA != nil || errB != nil {
		return a > b
	}
	return ta.After(tb)
}
