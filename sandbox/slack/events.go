package slacksandbox

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/poblysh/poblysh/sandbox"
)

// MessageInput posts a message (POST /_sandbox/slack/messages).
type MessageInput struct {
	Channel string `json:"channel"`
	// User defaults to UserAlice; ignored for Bot messages.
	User string `json:"user,omitempty"`
	Text string `json:"text"`
	// ThreadTS makes the message a reply in that thread.
	ThreadTS string `json:"thread_ts,omitempty"`
	// Broadcast also sends a reply to the channel (subtype thread_broadcast).
	Broadcast bool `json:"broadcast,omitempty"`
	// Bot posts as a legacy integration (subtype bot_message, bot_id).
	Bot bool `json:"bot,omitempty"`
}

// ReactionInput adds a reaction (POST /_sandbox/slack/reactions).
type ReactionInput struct {
	Channel  string `json:"channel"`
	TS       string `json:"ts"`
	User     string `json:"user,omitempty"`
	Reaction string `json:"reaction"`
}

// EventOptions shape how an event is delivered: copies (later copies carry
// X-Slack-Retry-Num and X-Slack-Retry-Reason), hold (sent by
// /_sandbox/flush, newest first) and stale (signed with a timestamp ten
// minutes old, which receivers must reject).
type EventOptions struct {
	sandbox.DeliveryOptions
	Stale bool `json:"stale,omitempty"`
}

// Event is an Events API request body, built but not yet signed.
type Event struct {
	// ID is the envelope's event_id ("" for url_verification).
	ID string `json:"event_id,omitempty"`
	// Type is the inner event type, or url_verification.
	Type string `json:"type"`
	// Inner is the inner event object (nil for url_verification).
	Inner json.RawMessage `json:"event,omitempty"`
	// Body is the whole request body.
	Body json.RawMessage `json:"-"`
	// Deliverable is false for activity in a channel the app's bot is not
	// a member of: Slack sends the app nothing, so Deliver sends nothing
	// (Delivery still signs it, for tests of what Slack never sends).
	Deliverable bool `json:"-"`
}

// ErrNotFound and ErrInvalid are returned by the control methods for
// unknown channels, messages or users, and for bad input.
var (
	ErrNotFound = errors.New("not found")
	ErrInvalid  = errors.New("invalid input")
)

type wireAuthorization struct {
	EnterpriseID        *string `json:"enterprise_id"`
	TeamID              string  `json:"team_id"`
	UserID              string  `json:"user_id"`
	IsBot               bool    `json:"is_bot"`
	IsEnterpriseInstall bool    `json:"is_enterprise_install"`
}

// wireEnvelope is the event_callback wrapper. team_id is the workspace
// the event happened in (for an org-wide install too), enterprise_id its
// Grid org; authorizations names the one install the event is delivered
// for, with is_enterprise_install for org-wide ones
// (https://api.slack.com/apis/events-api#callback-field,
// https://api.slack.com/enterprise/apps/changes-apis).
type wireEnvelope struct {
	Token               string              `json:"token"`
	TeamID              string              `json:"team_id"`
	EnterpriseID        string              `json:"enterprise_id,omitempty"`
	ContextTeamID       string              `json:"context_team_id"`
	ContextEnterpriseID *string             `json:"context_enterprise_id"`
	APIAppID            string              `json:"api_app_id"`
	Event               json.RawMessage     `json:"event"`
	Type                string              `json:"type"`
	EventID             string              `json:"event_id"`
	EventTime           int64               `json:"event_time"`
	Authorizations      []wireAuthorization `json:"authorizations"`
	IsExtSharedChannel  bool                `json:"is_ext_shared_channel"`
	EventContext        string              `json:"event_context"`
}

type wireItem struct {
	Type    string `json:"type"`
	Channel string `json:"channel"`
	TS      string `json:"ts"`
}

type wireReactionEvent struct {
	Type     string   `json:"type"`
	User     string   `json:"user"`
	Reaction string   `json:"reaction"`
	Item     wireItem `json:"item"`
	ItemUser string   `json:"item_user,omitempty"`
	EventTS  string   `json:"event_ts"`
}

// callback wraps an inner event of channel c in the event_callback
// envelope of c's workspace, authorized for the install that covers it:
// the org-wide install when the org has one, else the workspace's own.
func (s *Server) callback(typ string, c channel, inner any, eventTS string) (*Event, error) {
	raw, err := json.Marshal(inner)
	if err != nil {
		return nil, fmt.Errorf("slacksandbox: encode %s event: %w", typ, err)
	}
	s.store.mu.Lock()
	t := *s.store.teams[c.Team]
	s.store.mu.Unlock()
	auth := wireAuthorization{TeamID: t.ID, UserID: t.BotUserID, IsBot: true}
	var ent *string
	if t.Enterprise != "" {
		e := t.Enterprise
		ent, auth.EnterpriseID = &e, &e
		s.store.mu.Lock()
		taken := s.store.enterprises[e].Revoked[t.ID]
		s.store.mu.Unlock()
		if s.orgInstalled(e) && !taken {
			auth.UserID, auth.IsEnterpriseInstall = s.store.enterprises[e].BotUserID, true
		}
	}
	ctx, _ := json.Marshal(map[string]string{"et": typ, "tid": t.ID, "aid": AppID, "cid": c.ID})
	sec, _, _ := strings.Cut(eventTS, ".")
	at, _ := strconv.ParseInt(sec, 10, 64)
	env := wireEnvelope{
		Token: VerificationToken, TeamID: t.ID, EnterpriseID: t.Enterprise, ContextTeamID: t.ID, ContextEnterpriseID: ent,
		APIAppID: AppID, Event: raw, Type: "event_callback", EventID: "Ev" + strings.ToUpper(sandbox.RandomString(10)), EventTime: at,
		Authorizations: []wireAuthorization{auth},
		EventContext:   "4-" + base64.RawURLEncoding.EncodeToString(ctx),
	}
	body, err := json.Marshal(env)
	if err != nil {
		return nil, fmt.Errorf("slacksandbox: encode envelope: %w", err)
	}
	return &Event{ID: env.EventID, Type: typ, Inner: raw, Body: body, Deliverable: c.Member}, nil
}

// PostMessage stores a message in a channel and returns its message event
// (not yet delivered; not deliverable when the bot is not in the channel).
// An archived channel takes no message (Slack: is_archived).
func (s *Server) PostMessage(in MessageInput) (*Event, error) {
	c, ok := s.store.channel(in.Channel)
	if !ok {
		return nil, fmt.Errorf("%w: channel %q", ErrNotFound, in.Channel)
	}
	if c.Archived {
		return nil, fmt.Errorf("%w: is_archived: channel %q", ErrInvalid, in.Channel)
	}
	if strings.TrimSpace(in.Text) == "" {
		return nil, fmt.Errorf("%w: text is required", ErrInvalid)
	}
	s.store.mu.Lock()
	m := &message{Channel: c.ID, User: in.User, Text: in.Text, TS: s.store.nextTS(s.now())}
	if m.User == "" {
		m.User = UserAlice
	}
	if _, ok := s.store.users[m.User]; !ok && !in.Bot {
		s.store.mu.Unlock()
		return nil, fmt.Errorf("%w: user %q", ErrNotFound, m.User)
	}
	if in.ThreadTS != "" {
		parent := s.store.findLocked(c.ID, in.ThreadTS)
		if parent == nil || parent.isReply() {
			s.store.mu.Unlock()
			return nil, fmt.Errorf("%w: thread %q in %s", ErrNotFound, in.ThreadTS, c.ID)
		}
		m.ThreadTS = parent.TS
		if in.Broadcast {
			m.Subtype = "thread_broadcast"
		}
	}
	switch {
	case in.Bot:
		m.Subtype, m.BotID, m.Username, m.User = "bot_message", DeployBotID, "Deploy Bot", ""
	case m.Subtype == "":
		m.ClientMsgID = clientMsgID(m.Channel, m.TS)
	}
	s.store.addLocked(m)
	w := s.store.wireLocked(m)
	s.store.mu.Unlock()
	w.Channel, w.EventTS, w.ChannelType = c.ID, m.TS, channelType(c)
	return s.callback("message", c, w, m.TS)
}

// AddReaction adds a reaction to a stored message and returns its
// reaction_added event (not yet delivered); not in an archived channel
// (Slack: is_archived).
func (s *Server) AddReaction(in ReactionInput) (*Event, error) {
	if in.Reaction == "" {
		return nil, fmt.Errorf("%w: reaction is required", ErrInvalid)
	}
	user := in.User
	if user == "" {
		user = UserAlice
	}
	if _, ok := s.store.users[user]; !ok {
		return nil, fmt.Errorf("%w: user %q", ErrNotFound, user)
	}
	s.store.mu.Lock()
	m := s.store.findLocked(in.Channel, in.TS)
	if m == nil {
		s.store.mu.Unlock()
		return nil, fmt.Errorf("%w: message %s in %q", ErrNotFound, in.TS, in.Channel)
	}
	if c := s.store.channelLocked(in.Channel); c != nil && c.Archived {
		s.store.mu.Unlock()
		return nil, fmt.Errorf("%w: is_archived: channel %q", ErrInvalid, in.Channel)
	}
	var r *reaction
	for _, x := range m.Reactions {
		if x.Name == in.Reaction {
			r = x
		}
	}
	if r == nil {
		r = &reaction{Name: in.Reaction}
		m.Reactions = append(m.Reactions, r)
	}
	for _, u := range r.Users {
		if u == user {
			s.store.mu.Unlock()
			return nil, fmt.Errorf("%w: already_reacted", ErrInvalid)
		}
	}
	r.Users = append(r.Users, user)
	eventTS := s.store.nextTS(s.now())
	s.store.mu.Unlock()
	ev := wireReactionEvent{Type: "reaction_added", User: user, Reaction: in.Reaction,
		Item: wireItem{Type: "message", Channel: m.Channel, TS: m.TS}, ItemUser: m.User, EventTS: eventTS}
	c, _ := s.store.channel(m.Channel)
	return s.callback("reaction_added", c, ev, eventTS)
}

// DeleteInput deletes a message (POST /_sandbox/slack/messages/delete).
type DeleteInput struct {
	Channel string `json:"channel"`
	TS      string `json:"ts"`
}

type wireDeletedEvent struct {
	Type            string       `json:"type"`
	Subtype         string       `json:"subtype"`
	Hidden          bool         `json:"hidden"`
	Channel         string       `json:"channel"`
	TS              string       `json:"ts"`
	DeletedTS       string       `json:"deleted_ts"`
	EventTS         string       `json:"event_ts"`
	ChannelType     string       `json:"channel_type"`
	PreviousMessage *wireMessage `json:"previous_message,omitempty"`
}

// wireChangedEvent is a message event of subtype message_changed.
type wireChangedEvent struct {
	Type            string       `json:"type"`
	Subtype         string       `json:"subtype"`
	Hidden          bool         `json:"hidden"`
	Message         wireMessage  `json:"message"`
	PreviousMessage *wireMessage `json:"previous_message,omitempty"`
	Channel         string       `json:"channel"`
	TS              string       `json:"ts"`
	EventTS         string       `json:"event_ts"`
	ChannelType     string       `json:"channel_type"`
}

// tombstoneText is what Slack shows in place of a deleted thread parent.
const tombstoneText = "This message was deleted."

// DeleteMessage deletes a stored message, as chat.delete does: history and
// replies no longer list it, and the channel gets a message event with
// subtype message_deleted naming it in deleted_ts
// (https://docs.slack.dev/reference/events/message/message_deleted/).
// A thread parent with replies is not removed: Slack leaves a tombstone in
// its place (subtype tombstone, hidden, by USLACKBOT, "This message was
// deleted.") that keeps the thread, and announces it with a message_changed
// event carrying the tombstone as the message.
func (s *Server) DeleteMessage(in DeleteInput) (*Event, error) {
	c, ok := s.store.channel(in.Channel)
	if !ok {
		return nil, fmt.Errorf("%w: channel %q", ErrNotFound, in.Channel)
	}
	s.store.mu.Lock()
	m := s.store.findLocked(c.ID, in.TS)
	if m == nil {
		s.store.mu.Unlock()
		return nil, fmt.Errorf("%w: message %s in %q", ErrNotFound, in.TS, in.Channel)
	}
	prev := s.store.wireLocked(m)
	if !m.isReply() && len(s.store.repliesLocked(c.ID, m.TS)) > 0 {
		m.Subtype, m.User, m.Text, m.ClientMsgID, m.EditedTS = "tombstone", "USLACKBOT", tombstoneText, "", ""
		m.BotID, m.Username, m.Reactions, m.Files = "", "", nil, nil
		tomb := s.store.wireLocked(m)
		ts := s.store.nextTS(s.now())
		s.store.mu.Unlock()
		ev := wireChangedEvent{Type: "message", Subtype: "message_changed", Hidden: true, Message: tomb,
			PreviousMessage: &prev, Channel: c.ID, TS: ts, EventTS: ts, ChannelType: channelType(c)}
		return s.callback("message", c, ev, ts)
	}
	list := s.store.messages[c.ID]
	for i, x := range list {
		if x == m {
			s.store.messages[c.ID] = append(list[:i:i], list[i+1:]...)
			break
		}
	}
	ts := s.store.nextTS(s.now())
	s.store.mu.Unlock()
	ev := wireDeletedEvent{Type: "message", Subtype: "message_deleted", Hidden: true, Channel: c.ID, TS: ts,
		DeletedTS: m.TS, EventTS: ts, ChannelType: channelType(c), PreviousMessage: &prev}
	return s.callback("message", c, ev, ts)
}

// channelType is a channel's channel_type in message events.
func channelType(c channel) string {
	if c.MPIM {
		return "mpim"
	}
	if c.Private {
		return "group"
	}
	return "channel"
}

// RemoveBot removes the app's bot from a channel, as a member does with
// /remove, and returns the event Slack sends the app for it: channel_left
// for a public channel, group_left for a private one, naming who removed
// it in actor_id (https://docs.slack.dev/reference/events/channel_left/,
// https://docs.slack.dev/reference/events/group_left/). Slack says it
// "sometimes" withholds them; the sandbox always sends one.
func (s *Server) RemoveBot(channelID, actor string) (*Event, error) {
	if actor == "" {
		actor = UserAlice
	}
	s.store.mu.Lock()
	c := s.store.channelLocked(channelID)
	var was channel
	var ts string
	if c != nil {
		was = *c
		c.Member = false
		ts = s.store.nextTS(s.now())
	}
	s.store.mu.Unlock()
	if c == nil {
		return nil, fmt.Errorf("%w: channel %q", ErrNotFound, channelID)
	}
	typ := "channel_left"
	if was.Private {
		typ = "group_left"
	}
	ev, err := s.callback(typ, was, map[string]string{"type": typ, "channel": was.ID, "actor_id": actor, "event_ts": ts}, ts)
	if err != nil {
		return nil, err
	}
	ev.Deliverable = true // sent to the bot that left
	return ev, nil
}

// ShareChannel shares a legacy private channel (id G…) with another
// organisation through Slack Connect, and returns the channel_id_changed
// event Slack sends for it. Slack says "the existing private channel's
// unique channel ID changes to a new identifier permanently", and that from
// then on everything about the channel is associated with the new id
// (https://api.slack.com/events/channel_id_changed): here the new id is C
// and the rest of the old one, as in Slack's example (G012Y48650T →
// C012Y48650T). History, membership and later events follow the new id;
// the old one is channel_not_found to every method. The event is "only
// sent for private channels your app has access to": deliverable when the
// bot is a member. Sharing a channel whose id already starts with C keeps
// its id (Slack then sends channel_shared, which the fake does not model):
// ErrInvalid.
func (s *Server) ShareChannel(channelID string) (*Event, error) {
	s.store.mu.Lock()
	c := s.store.channelLocked(channelID)
	switch {
	case c == nil:
		s.store.mu.Unlock()
		return nil, fmt.Errorf("%w: channel %q", ErrNotFound, channelID)
	case !c.Private || !strings.HasPrefix(c.ID, "G"):
		s.store.mu.Unlock()
		return nil, fmt.Errorf("%w: only a legacy private channel (G…) changes its id when shared; %s keeps its own", ErrInvalid, channelID)
	}
	oldID, newID := c.ID, "C"+c.ID[1:]
	if s.store.channelLocked(newID) != nil {
		s.store.mu.Unlock()
		return nil, fmt.Errorf("%w: channel %q exists", ErrInvalid, newID)
	}
	c.ID, c.ExtShared = newID, true
	for _, m := range s.store.messages[oldID] {
		m.Channel = newID
	}
	s.store.messages[newID] = s.store.messages[oldID]
	delete(s.store.messages, oldID)
	was := *c
	ts := s.store.nextTS(s.now())
	s.store.mu.Unlock()
	return s.callback("channel_id_changed", was, map[string]string{"type": "channel_id_changed",
		"old_channel_id": oldID, "new_channel_id": newID, "event_ts": ts}, ts)
}

// AppRateLimited returns the app_rate_limited request Slack sends when it
// drops an app's events of a workspace (more than 30,000 an hour): no
// inner event, the workspace in team_id, the minute it started
// (https://docs.slack.dev/reference/events/app_rate_limited/): token,
// type, team_id, minute_rate_limited and api_app_id, nothing else (no
// enterprise_id, even for a Grid workspace). team defaults to the default
// workspace.
func (s *Server) AppRateLimited(team string) (*Event, error) {
	if team == "" {
		team = s.store.team
	}
	s.store.mu.Lock()
	t, ok := s.store.teams[team]
	s.store.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("%w: team %q", ErrNotFound, team)
	}
	minute := s.now().Unix() / 60 * 60
	v := map[string]any{"token": VerificationToken, "type": "app_rate_limited", "team_id": t.ID,
		"minute_rate_limited": minute, "api_app_id": AppID}
	body, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("slacksandbox: encode app_rate_limited: %w", err)
	}
	return &Event{Type: "app_rate_limited", Body: body, Deliverable: true}, nil
}

// Uninstall removes the app from a workspace (team defaults to the default
// workspace), as an admin does in the workspace's app settings: every
// token the workspace install was given dies (calls answer
// token_revoked), and Slack sends tokens_revoked, naming the users whose
// tokens died, and then app_uninstalled
// (https://docs.slack.dev/reference/events/tokens_revoked/,
// https://docs.slack.dev/reference/events/app_uninstalled/; Slack does not
// promise their order). Both come in the event_callback envelope without
// authorizations, the workspace in team_id; a Grid workspace's carries its
// enterprise_id too. An org-wide install is not removed this way (an org
// admin takes workspaces from it: SetTeamAccess).
func (s *Server) Uninstall(team string) ([]*Event, error) {
	if team == "" {
		team = s.store.team
	}
	s.store.mu.Lock()
	t, ok := s.store.teams[team]
	var bot, ent string
	if ok {
		bot, ent = t.BotUserID, t.Enterprise
	}
	s.store.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("%w: team %q", ErrNotFound, team)
	}
	s.mu.Lock()
	tokens := make([]string, 0, len(s.issued))
	for tok := range s.issued {
		tokens = append(tokens, tok)
	}
	s.mu.Unlock()
	var users []string
	for _, tok := range tokens {
		g, err := s.OAuth.Check(tok)
		if err != nil {
			continue
		}
		s.store.mu.Lock()
		in := s.store.installOf(g.UserID)
		s.store.mu.Unlock()
		if in.Org || in.Team != team {
			continue
		}
		s.OAuth.Revoke(tok)
		s.mu.Lock()
		s.revoked[tok] = true
		s.mu.Unlock()
		if !slices.Contains(users, g.UserID) {
			users = append(users, g.UserID)
		}
	}
	at := s.now().Unix()
	revoked, err := s.appEvent(team, ent, at, map[string]any{"type": "tokens_revoked",
		"tokens": map[string][]string{"oauth": users, "bot": {bot}}})
	if err != nil {
		return nil, err
	}
	gone, err := s.appEvent(team, ent, at, map[string]any{"type": "app_uninstalled"})
	if err != nil {
		return nil, err
	}
	return []*Event{revoked, gone}, nil
}

// appEvent wraps an event about the app itself in the event_callback
// envelope Slack's examples show for them: no authorizations.
func (s *Server) appEvent(team, enterprise string, at int64, inner map[string]any) (*Event, error) {
	raw, err := json.Marshal(inner)
	if err != nil {
		return nil, fmt.Errorf("slacksandbox: encode %s event: %w", inner["type"], err)
	}
	env := map[string]any{"token": VerificationToken, "team_id": team, "api_app_id": AppID, "event": json.RawMessage(raw),
		"type": "event_callback", "event_id": "Ev" + strings.ToUpper(sandbox.RandomString(10)), "event_time": at}
	if enterprise != "" {
		env["enterprise_id"] = enterprise
	}
	body, err := json.Marshal(env)
	if err != nil {
		return nil, fmt.Errorf("slacksandbox: encode envelope: %w", err)
	}
	return &Event{ID: env["event_id"].(string), Type: inner["type"].(string), Inner: raw, Body: body, Deliverable: true}, nil
}

// URLVerification returns the handshake Slack sends when the Request URL
// is set; an empty challenge gets a random one.
func (s *Server) URLVerification(challenge string) *Event {
	if challenge == "" {
		challenge = sandbox.RandomString(48)
	}
	body, _ := json.Marshal(map[string]string{"token": VerificationToken, "challenge": challenge, "type": "url_verification"})
	return &Event{Type: "url_verification", Body: body}
}

// Sign returns the headers Slack sends with body at time at: Content-Type,
// X-Slack-Request-Timestamp and X-Slack-Signature (v0=hex HMAC-SHA256 of
// "v0:<timestamp>:<body>" keyed with the signing secret).
func (s *Server) Sign(body []byte, at time.Time) http.Header {
	ts := strconv.FormatInt(at.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(s.opts.SigningSecret))
	_, _ = mac.Write([]byte("v0:" + ts + ":"))
	_, _ = mac.Write(body)
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "Slackbot 1.0 (+https://api.slack.com/robots)")
	h.Set("X-Slack-Request-Timestamp", ts)
	h.Set("X-Slack-Signature", "v0="+hex.EncodeToString(mac.Sum(nil)))
	return h
}

// Delivery returns ev signed at time at.
func (s *Server) Delivery(ev *Event, at time.Time) sandbox.Delivery {
	return sandbox.Delivery{Header: s.Sign(ev.Body, at), Body: ev.Body}
}

// Deliver signs ev and sends it to the events URL with opt applied. Copies
// after the first are Slack's retries (X-Slack-Retry-Num 1, 2…, reason
// http_timeout), sent concurrently as a retry racing its first attempt
// would. Held deliveries return no results, nor do events of channels
// the bot is not in (Slack does not send them).
func (s *Server) Deliver(ctx context.Context, ev *Event, opt EventOptions) []sandbox.Result {
	if ev.Type != "url_verification" && !ev.Deliverable {
		return nil
	}
	n := max(opt.Copies, 1)
	at := s.now()
	if opt.Stale {
		at = at.Add(-10 * time.Minute)
	}
	dels := make([]sandbox.Delivery, n)
	for i := range dels {
		dels[i] = s.Delivery(ev, at)
		if i > 0 {
			dels[i].Header.Set("X-Slack-Retry-Num", strconv.Itoa(i))
			dels[i].Header.Set("X-Slack-Retry-Reason", "http_timeout")
		}
	}
	if opt.Hold {
		for _, d := range dels {
			s.Deliverer.Send(ctx, d, sandbox.DeliveryOptions{Hold: true})
		}
		return nil
	}
	out := make([]sandbox.Result, n)
	var wg sync.WaitGroup
	for i, d := range dels {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if rs := s.Deliverer.Send(ctx, d, sandbox.DeliveryOptions{}); len(rs) > 0 {
				out[i] = rs[0]
			}
		}()
	}
	wg.Wait()
	return out
}

// RenameUser changes a user's display name (what users.info answers next).
func (s *Server) RenameUser(id, display string) error {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	u, ok := s.store.users[id]
	if !ok {
		return fmt.Errorf("%w: user %q", ErrNotFound, id)
	}
	u.Display = display
	s.store.users[id] = u
	return nil
}
