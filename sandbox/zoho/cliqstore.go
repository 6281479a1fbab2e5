package zohosandbox

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

// Channel is a Cliq channel of the fake.
type Channel struct {
	ChannelID  string
	ChatID     string
	Name       string
	UniqueName string
	OrgID      string
	DC         string
	Members    map[string]bool // zuids
	// Bot is true when the organisation's bot was added to the channel
	// (its participation handler then hears every message).
	Bot      bool
	Messages []*Message // oldest first
}

// Reaction is one emoji on a message with the users who reacted.
type Reaction struct {
	Emoji string
	Users []string // zuids, in reaction order
	Times []int64  // ms, parallel to Users
}

// Message is a Cliq message of the fake.
type Message struct {
	ID         string
	Time       int64 // ms
	Sender     string
	SenderName string
	Text       string
	Type       string
	Mentions   []string // zuids mentioned with {@zuid}
	Reactions  []*Reaction
}

// cliqStore holds every organisation's channels.
type cliqStore struct {
	s        *Server
	mu       sync.Mutex
	channels map[string]*Channel // by chat id
	seq      int64
	// bot of the EU organisation: where its handlers call, and its identity.
	botURL string
	BotID  string
}

// Bot identity (one bot, in the EU organisation).
const (
	BotID         = "b-2007184500000000071"
	BotName       = "Poblysh"
	BotUniqueName = "poblysh"
)

func newCliqStore(s *Server) *cliqStore {
	return &cliqStore{s: s, channels: map[string]*Channel{}, seq: 51531973059, BotID: BotID}
}

func (c *cliqStore) addChannel(ch *Channel) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.channels[ch.ChatID] = ch
}

// Channel returns a channel by chat id or unique name.
func (s *Server) Channel(ref string) (*Channel, bool) {
	s.cliq.mu.Lock()
	defer s.cliq.mu.Unlock()
	return s.cliq.channelLocked(ref)
}

func (c *cliqStore) channelLocked(ref string) (*Channel, bool) {
	if ch, ok := c.channels[ref]; ok {
		return ch, true
	}
	ref = strings.TrimPrefix(strings.ToLower(ref), "#")
	for _, ch := range c.channels {
		if ch.UniqueName == ref {
			return ch, true
		}
	}
	return nil, false
}

// MessageInput is a message to post through the control API.
type MessageInput struct {
	Chat string `json:"chat"`
	User string `json:"user"`
	Text string `json:"text"`
	// Mentions are zuids mentioned ({@zuid} is added to the text when the
	// text does not carry it).
	Mentions []string `json:"mentions,omitempty"`
	// MentionBot mentions the organisation's bot (its mention handler runs).
	MentionBot bool `json:"mention_bot,omitempty"`
	// At is the message time (default now).
	At time.Time `json:"at,omitempty"`
}

// Post stores a message and returns it.
func (s *Server) Post(in MessageInput) (*Channel, *Message, error) {
	c := s.cliq
	c.mu.Lock()
	defer c.mu.Unlock()
	ch, ok := c.channelLocked(in.Chat)
	if !ok {
		return nil, nil, fmt.Errorf("no channel %q", in.Chat)
	}
	if in.User == "" {
		in.User = UserPriya
	}
	u, ok := s.users[in.User]
	if !ok && in.User != BotID {
		return nil, nil, fmt.Errorf("no user %q", in.User)
	}
	name := BotName
	if u != nil {
		name = u.Name()
	}
	at := in.At
	if at.IsZero() {
		at = s.now()
	}
	ms := at.UnixMilli()
	for _, m := range ch.Messages { // ids and times stay unique
		if m.Time >= ms {
			ms = m.Time + 1
		}
	}
	c.seq++
	text := in.Text
	for _, z := range in.Mentions {
		if !strings.Contains(text, "{@"+z+"}") {
			text += " {@" + z + "}"
		}
	}
	if in.MentionBot && !strings.Contains(text, "{@"+BotID+"}") {
		text = "{@" + BotID + "} " + text
	}
	m := &Message{ID: fmt.Sprintf("%d_%d", ms, c.seq), Time: ms, Sender: in.User, SenderName: name, Text: text, Type: "text",
		Mentions: append([]string(nil), in.Mentions...)}
	ch.Messages = append(ch.Messages, m)
	sort.SliceStable(ch.Messages, func(i, j int) bool { return ch.Messages[i].Time < ch.Messages[j].Time })
	return ch, m, nil
}

// React adds a user's emoji to a message (a repeated reaction is a no-op).
func (s *Server) React(chat, messageID, user, emoji string) (*Channel, *Message, error) {
	c := s.cliq
	c.mu.Lock()
	defer c.mu.Unlock()
	ch, ok := c.channelLocked(chat)
	if !ok {
		return nil, nil, fmt.Errorf("no channel %q", chat)
	}
	if _, ok := s.users[user]; !ok {
		return nil, nil, fmt.Errorf("no user %q", user)
	}
	for _, m := range ch.Messages {
		if m.ID != messageID {
			continue
		}
		for _, r := range m.Reactions {
			if r.Emoji == emoji {
				for _, u := range r.Users {
					if u == user {
						return ch, m, nil
					}
				}
				r.Users = append(r.Users, user)
				r.Times = append(r.Times, s.now().UnixMilli())
				return ch, m, nil
			}
		}
		m.Reactions = append(m.Reactions, &Reaction{Emoji: emoji, Users: []string{user}, Times: []int64{s.now().UnixMilli()}})
		return ch, m, nil
	}
	return nil, nil, fmt.Errorf("no message %q in %s", messageID, chat)
}

// SetBot adds the organisation's bot to channels (listen_message) and sets
// its execution URL, as the operator does in Cliq's bot settings.
func (s *Server) SetBot(executionURL string, channels []string) error {
	c := s.cliq
	c.mu.Lock()
	defer c.mu.Unlock()
	if executionURL != "" {
		c.botURL = executionURL
	}
	for _, ref := range channels {
		ch, ok := c.channelLocked(ref)
		if !ok {
			return fmt.Errorf("no channel %q", ref)
		}
		ch.Bot = true
	}
	return nil
}

// BotURL is the bot's execution URL ("" until set).
func (s *Server) BotURL() string {
	s.cliq.mu.Lock()
	defer s.cliq.mu.Unlock()
	return s.cliq.botURL
}
