package zohocliq

import (
	"bytes"
	"encoding/json"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/poblysh/poblysh/connectors/zoho"
)

// message is a Cliq message as the REST API (GET …/messages) and bot
// handler payloads (params.message) carry it. Types vary between the two
// and over time (time is a number in REST answers and a string in handler
// payloads), so scalars are read with zoho.Str.
type message struct {
	ID      zoho.Str `json:"id"`
	Time    zoho.Str `json:"time"`
	Type    string   `json:"type"`
	Sender  person   `json:"sender"`
	Content struct {
		Text string `json:"text"`
	} `json:"content"`
	// Text is where handler payloads put the text.
	Text      string          `json:"text"`
	Mentions  []person        `json:"mentions"`
	Reactions json.RawMessage `json:"reactions"`
	// Details is the inner message of a Message Details object, the form
	// Zoho documents for the message handed to the mention and message
	// handlers: {"time": …, "message": {"type", "text", "mentions"}}
	// (https://www.zoho.com/cliq/help/platform/cliq-objects/message-details-object.html).
	Details *struct {
		Text     string   `json:"text"`
		Mentions []person `json:"mentions"`
	} `json:"message"`
}

// person is a sender, a mentioned user or a reacting user.
type person struct {
	ID   zoho.Str `json:"id"`
	Name string   `json:"name"`
}

// UnmarshalJSON reads a person object or, as some Cliq answers give a
// sender, the bare user id ("60040396507" or 60040396507). Without this a
// message carrying one failed to decode and was skipped. An object without
// name is named by first_name and last_name, as the bot handlers' users
// and senders are (Zoho's mention handler sample:
// {"id", "first_name": "Scott", "last_name": "Fisher", "email", …}).
func (p *person) UnmarshalJSON(b []byte) error {
	if t := bytes.TrimSpace(b); len(t) > 0 && t[0] != '{' {
		*p = person{}
		return json.Unmarshal(t, &p.ID)
	}
	var o struct {
		ID        zoho.Str `json:"id"`
		Name      string   `json:"name"`
		FirstName string   `json:"first_name"`
		LastName  string   `json:"last_name"`
	}
	if err := json.Unmarshal(b, &o); err != nil {
		return err
	}
	*p = person{ID: o.ID, Name: cmpOr(o.Name, fullName(o.FirstName, o.LastName))}
	return nil
}

// fullName is "First Last", or whichever of them is given.
func fullName(first, last string) string { return strings.TrimSpace(first + " " + last) }

// text is the message's text wherever it came.
func (m *message) text() string {
	switch {
	case m.Content.Text != "":
		return m.Content.Text
	case m.Text == "" && m.Details != nil:
		return m.Details.Text
	}
	return m.Text
}

// at is the message time: its time field, else the milliseconds that
// start a Cliq message id ("1773813859592_51531973059").
func (m *message) at() (time.Time, bool) {
	if t, ok := m.Time.Millis(); ok {
		return t, true
	}
	return idTime(m.ID.String())
}

// idTime reads the time a message id starts with.
func idTime(id string) (time.Time, bool) {
	ms, _, ok := strings.Cut(id, "_")
	if !ok {
		return time.Time{}, false
	}
	return zoho.Str(ms).Millis()
}

// fromBot reports a message a bot sent (bot ids start with "b-"): bots'
// own posts are not people's messages, as for Slack.
func (m *message) fromBot() bool { return strings.HasPrefix(m.Sender.ID.String(), "b-") }

// names maps the ids a message mentions to their names, for rendering.
func (m *message) names() map[string]string {
	out := map[string]string{}
	ps := m.Mentions
	if len(ps) == 0 && m.Details != nil {
		ps = m.Details.Mentions
	}
	for _, p := range ps {
		if p.ID != "" && p.Name != "" {
			out[p.ID.String()] = p.Name
		}
	}
	return out
}

// reaction is one (emoji, user) pair on a message.
type reaction struct {
	Emoji    string
	UserID   string
	UserName string
	At       time.Time // zero when Cliq gave no time
	// Was is, for a reaction in Zoho's "timestamp:user_id:username" form,
	// the whole string, which versions before 2026-12-07 took for the
	// user's id (and keyed the reaction by).
	Was string
}

// reactions reads a message's reactions. Zoho documents a reaction as a
// string "timestamp:user_id:username" in an object of emoji to such
// strings (its Cliq OpenAPI messages.yml, get-reactions: pattern
// ^\d+:\d+:.+$, example "😍": ["1710152648241:802515329:Diana", …]); the
// other forms seen in Zoho's payloads are read too: an array of
// {emoji|reaction|code, users|user_ids: [id or {id, name, time}]}, or an
// object {emoji: [id or {id, name}]} or {emoji: {users: […]}}.
// Pairs come sorted (emoji, user) and once each.
func (m *message) reactions() []reaction {
	raw := bytes.TrimSpace(m.Reactions)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil
	}
	type entry struct {
		Emoji    string          `json:"emoji"`
		Reaction string          `json:"reaction"`
		Code     string          `json:"code"`
		Name     string          `json:"name"`
		Users    json.RawMessage `json:"users"`
		UserIDs  json.RawMessage `json:"user_ids"`
		Reacted  json.RawMessage `json:"reacted_users"`
	}
	var out []reaction
	add := func(emoji string, users json.RawMessage) {
		for _, u := range reactors(users) {
			out = append(out, reaction{Emoji: emoji, UserID: u.id, UserName: u.name, At: u.at, Was: u.was})
		}
	}
	var list []entry
	if json.Unmarshal(raw, &list) == nil {
		for _, e := range list {
			emoji := firstOf(e.Emoji, e.Reaction, e.Code, e.Name)
			for _, us := range []json.RawMessage{e.Users, e.UserIDs, e.Reacted} {
				add(emoji, us)
			}
		}
	} else {
		var obj map[string]json.RawMessage
		if json.Unmarshal(raw, &obj) != nil {
			return nil
		}
		for emoji, v := range obj {
			var e entry
			if t := bytes.TrimSpace(v); len(t) > 0 && t[0] == '{' && json.Unmarshal(t, &e) == nil {
				for _, us := range []json.RawMessage{e.Users, e.UserIDs, e.Reacted} {
					add(emoji, us)
				}
				continue
			}
			add(emoji, v)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Emoji != out[j].Emoji {
			return out[i].Emoji < out[j].Emoji
		}
		return out[i].UserID < out[j].UserID
	})
	uniq := out[:0]
	for i, r := range out {
		if r.Emoji == "" || r.UserID == "" || (i > 0 && r.Emoji == out[i-1].Emoji && r.UserID == out[i-1].UserID) {
			continue
		}
		uniq = append(uniq, r)
	}
	return uniq
}

type reactor struct {
	id, name, was string
	at            time.Time
}

// zohoReaction is Zoho's documented reaction string: the time (ms), the
// user's id and name, split at the first two colons (a name may hold
// colons of its own).
var zohoReaction = regexp.MustCompile(`^(\d+):(\d+):(.*)$`)

// reactors reads a list of reaction strings ("timestamp:user_id:username"),
// user ids or user objects.
func reactors(raw json.RawMessage) []reactor {
	var items []json.RawMessage
	if json.Unmarshal(raw, &items) != nil {
		return nil
	}
	var out []reactor
	for _, it := range items {
		var id zoho.Str
		if json.Unmarshal(it, &id) == nil && id != "" && !bytes.HasPrefix(bytes.TrimSpace(it), []byte("{")) {
			r := reactor{id: id.String()}
			if p := zohoReaction.FindStringSubmatch(r.id); p != nil {
				r.id, r.name, r.was = p[2], p[3], r.id
				r.at, _ = zoho.Str(p[1]).Millis()
			}
			out = append(out, r)
			continue
		}
		var p struct {
			ID     zoho.Str `json:"id"`
			UserID zoho.Str `json:"user_id"`
			Name   string   `json:"name"`
			Time   zoho.Str `json:"time"`
		}
		if json.Unmarshal(it, &p) == nil {
			r := reactor{id: firstOf(p.ID.String(), p.UserID.String()), name: p.Name}
			r.at, _ = p.Time.Millis()
			out = append(out, r)
		}
	}
	return out
}

func firstOf(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

var (
	// {@<zuid>} and {@<email>}: a mention in Cliq's message markup.
	mentionMarkup = regexp.MustCompile(`\{@([A-Za-z0-9._@+-]+)\}`)
	// [Name](zohoid:123) and [Name](mail:a@b): silent mentions.
	silentMarkup = regexp.MustCompile(`\[([^\]\n]+)\]\((?:zohoid|mail):[^)\s]*\)`)
	// {#<channel>}: a channel mention.
	channelMarkup = regexp.MustCompile(`\{#([A-Za-z0-9._-]+)\}`)
)

// render turns Cliq's markup into text for people: mentions become
// @Name (or @<id> when the name is unknown), channel mentions #name.
func render(text string, names map[string]string) string {
	text = mentionMarkup.ReplaceAllStringFunc(text, func(s string) string {
		id := s[2 : len(s)-1]
		if n, ok := names[id]; ok {
			return "@" + n
		}
		return "@" + id
	})
	text = silentMarkup.ReplaceAllString(text, "@$1")
	text = channelMarkup.ReplaceAllString(text, "#$1")
	return strings.TrimSpace(text)
}

// title is the first line of rendered text, shortened.
func title(text, fallback string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(text), "\n")
	if line = strings.TrimSpace(line); line == "" {
		return fallback
	}
	return trunc(line, 120)
}
