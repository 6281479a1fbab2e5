package slacksandbox

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"

	"github.com/poblysh/poblysh/sandbox"
)

type wireMetadata struct {
	NextCursor string `json:"next_cursor"`
}

type wireHistory struct {
	OK                  bool          `json:"ok"`
	Messages            []wireMessage `json:"messages"`
	HasMore             bool          `json:"has_more"`
	PinCount            int           `json:"pin_count"`
	ChannelActionsTS    *string       `json:"channel_actions_ts"`
	ChannelActionsCount int           `json:"channel_actions_count"`
	ResponseMetadata    *wireMetadata `json:"response_metadata,omitempty"`
}

type wireReplies struct {
	OK               bool          `json:"ok"`
	Messages         []wireMessage `json:"messages"`
	HasMore          bool          `json:"has_more"`
	ResponseMetadata *wireMetadata `json:"response_metadata,omitempty"`
}

type wireList struct {
	OK               bool          `json:"ok"`
	Channels         []wireChannel `json:"channels"`
	ResponseMetadata wireMetadata  `json:"response_metadata"`
}

func encodeCursor(prefix, v string) string {
	return base64.StdEncoding.EncodeToString([]byte(prefix + v))
}

func decodeCursor(prefix, c string) (string, bool) {
	b, err := base64.StdEncoding.DecodeString(c)
	if err != nil || !strings.HasPrefix(string(b), prefix) {
		return "", false
	}
	return strings.TrimPrefix(string(b), prefix), true
}

// limitOf reads the limit parameter: default def, at most max.
func limitOf(v string, def, max int) int {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return def
	}
	return min(n, max)
}

func truthy(v string) bool { return v == "1" || v == "true" }

// readableChannel resolves the channel parameter for the history methods,
// answering channel_not_found (another workspace's channel, or a private
// one without the bot), not_in_channel or missing_scope like Slack.
func (s *Server) readableChannel(w http.ResponseWriter, r *http.Request, g sandbox.Grant) (*channel, bool) {
	c, ok := s.store.channel(r.Form.Get("channel"))
	if !ok || !s.store.covers(s.store.installOf(g.UserID), c.Team) || (c.Private && !c.Member) {
		writeError(w, "channel_not_found")
		return nil, false
	}
	scope := "channels:history"
	switch {
	case c.MPIM:
		scope = "mpim:history"
	case c.Private:
		scope = "groups:history"
	}
	if !hasScope(g, scope) {
		sandbox.WriteJSON(w, http.StatusOK, slackError{Error: "missing_scope", Needed: scope, Provided: strings.Join(g.Scopes, ",")})
		return nil, false
	}
	if !c.Member {
		writeError(w, "not_in_channel")
		return nil, false
	}
	return &c, true
}

// inRange applies oldest/latest/inclusive; both bounds are exclusive unless
// inclusive is set, as documented for conversations.history.
func inRange(ts, oldest, latest string, inclusive bool) bool {
	if oldest != "" && (tsLess(ts, oldest) || (!inclusive && ts == oldest)) {
		return false
	}
	if latest != "" && (tsLess(latest, ts) || (!inclusive && ts == latest)) {
		return false
	}
	return true
}

// handleHistory serves conversations.history: newest first, cursor
// pagination with response_metadata.next_cursor ("next_ts:<ts>").
func (s *Server) handleHistory(w http.ResponseWriter, r *http.Request) {
	g, _, ok := s.authorize(w, r)
	if !ok {
		return
	}
	c, ok := s.readableChannel(w, r, g)
	if !ok {
		return
	}
	limit := limitOf(r.Form.Get("limit"), 100, 999)
	oldest, latest, incl := r.Form.Get("oldest"), r.Form.Get("latest"), truthy(r.Form.Get("inclusive"))
	from := ""
	if cur := r.Form.Get("cursor"); cur != "" {
		var valid bool
		if from, valid = decodeCursor("next_ts:", cur); !valid {
			writeError(w, "invalid_cursor")
			return
		}
	}
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	all := s.store.messages[c.ID]
	var page []*message
	next := ""
	for i := len(all) - 1; i >= 0; i-- {
		m := all[i]
		if !m.inHistory() || !inRange(m.TS, oldest, latest, incl) || (from != "" && tsLess(from, m.TS)) {
			continue
		}
		if len(page) == limit {
			next = m.TS
			break
		}
		page = append(page, m)
	}
	out := wireHistory{OK: true, Messages: []wireMessage{}, HasMore: next != ""}
	for _, m := range page {
		out.Messages = append(out.Messages, s.store.wireLocked(m))
	}
	if next != "" {
		out.ResponseMetadata = &wireMetadata{NextCursor: encodeCursor("next_ts:", next)}
	}
	sandbox.WriteJSON(w, http.StatusOK, out)
}

// handleReplies serves conversations.replies: the parent first (on the
// first page only), then replies oldest first.
func (s *Server) handleReplies(w http.ResponseWriter, r *http.Request) {
	g, _, ok := s.authorize(w, r)
	if !ok {
		return
	}
	c, ok := s.readableChannel(w, r, g)
	if !ok {
		return
	}
	limit := limitOf(r.Form.Get("limit"), 1000, 1000)
	oldest, latest, incl := r.Form.Get("oldest"), r.Form.Get("latest"), truthy(r.Form.Get("inclusive"))
	from := ""
	if cur := r.Form.Get("cursor"); cur != "" {
		var valid bool
		if from, valid = decodeCursor("next_ts:", cur); !valid {
			writeError(w, "invalid_cursor")
			return
		}
	}
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	parent := s.store.findLocked(c.ID, r.Form.Get("ts"))
	if parent == nil {
		writeError(w, "thread_not_found")
		return
	}
	var list []*message
	if from == "" {
		list = append(list, parent)
	}
	for _, m := range s.store.repliesLocked(c.ID, parent.TS) {
		if inRange(m.TS, oldest, latest, incl) && (from == "" || !tsLess(m.TS, from)) {
			list = append(list, m)
		}
	}
	next := ""
	if len(list) > limit {
		next = list[limit].TS
		list = list[:limit]
	}
	out := wireReplies{OK: true, Messages: []wireMessage{}, HasMore: next != ""}
	for _, m := range list {
		out.Messages = append(out.Messages, s.store.wireLocked(m))
	}
	if next != "" {
		out.ResponseMetadata = &wireMetadata{NextCursor: encodeCursor("next_ts:", next)}
	}
	sandbox.WriteJSON(w, http.StatusOK, out)
}

// handleConversationsList serves conversations.list for the types asked
// (default public_channel): every public channel of the workspace with
// is_member, and the private channels the bot is in, archived ones too
// unless exclude_archived is true. The connector does
// not call it (it lists the bot's own channels with users.conversations);
// it is kept because Slack has it.
func (s *Server) handleConversationsList(w http.ResponseWriter, r *http.Request) {
	g, _, ok := s.authorize(w, r)
	if !ok {
		return
	}
	types := r.Form.Get("types")
	if types == "" {
		types = "public_channel"
	}
	want := map[string]bool{}
	for _, t := range strings.Split(types, ",") {
		want[strings.TrimSpace(t)] = true
		scope := map[string]string{"public_channel": "channels:read", "private_channel": "groups:read"}[strings.TrimSpace(t)]
		if scope != "" && !hasScope(g, scope) {
			sandbox.WriteJSON(w, http.StatusOK, slackError{Error: "missing_scope", Needed: scope, Provided: strings.Join(g.Scopes, ",")})
			return
		}
	}
	teamID, ok := s.teamParam(w, r, g)
	if !ok {
		return
	}
	limit := limitOf(r.Form.Get("limit"), 100, 1000)
	excludeArchived := truthy(r.Form.Get("exclude_archived"))
	from := ""
	if cur := r.Form.Get("cursor"); cur != "" {
		var valid bool
		if from, valid = decodeCursor("team:", cur); !valid {
			writeError(w, "invalid_cursor")
			return
		}
	}
	out := wireList{OK: true, Channels: []wireChannel{}}
	started := from == ""
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	for _, c := range s.store.channels {
		if c.ID == from {
			started = true
		}
		if !started || c.Team != teamID || (c.Private && !c.Member) || !want[c.kind()] || (excludeArchived && c.Archived) {
			continue
		}
		if len(out.Channels) == limit {
			out.ResponseMetadata.NextCursor = encodeCursor("team:", c.ID)
			break
		}
		out.Channels = append(out.Channels, s.store.wireChannel(c))
	}
	sandbox.WriteJSON(w, http.StatusOK, out)
}

// handleUsersInfo serves users.info.
func (s *Server) handleUsersInfo(w http.ResponseWriter, r *http.Request) {
	g, _, ok := s.authorize(w, r)
	if !ok {
		return
	}
	if !hasScope(g, "users:read") {
		sandbox.WriteJSON(w, http.StatusOK, slackError{Error: "missing_scope", Needed: "users:read", Provided: strings.Join(g.Scopes, ",")})
		return
	}
	u, found := s.store.users[r.Form.Get("user")]
	if !found || !s.store.covers(s.store.installOf(g.UserID), u.Team) {
		writeError(w, "user_not_found")
		return
	}
	sandbox.WriteJSON(w, http.StatusOK, map[string]any{"ok": true, "user": map[string]any{
		"id": u.ID, "team_id": u.Team, "name": u.Name, "deleted": false, "color": "9f69e7",
		"real_name": u.RealName, "tz": "Europe/London", "tz_label": "Greenwich Mean Time", "tz_offset": 0,
		"profile": map[string]any{
			"real_name": u.RealName, "display_name": u.Display, "real_name_normalized": u.RealName,
			"display_name_normalized": u.Display, "team": u.Team, "image_72": "https://avatars.slack-edge.com/" + u.ID + "_72.png",
		},
		"is_admin": u.ID == UserAlice, "is_owner": u.ID == UserAlice, "is_bot": u.Bot,
		"is_app_user": false, "updated": SeedEpoch, "is_email_confirmed": true,
	}})
}

// handleConversationsInfo serves conversations.info: a channel of the
// install's workspaces, public ones whether or not the bot is in them,
// private ones only with the bot (channel_not_found otherwise), with the
// scope of its type.
func (s *Server) handleConversationsInfo(w http.ResponseWriter, r *http.Request) {
	g, _, ok := s.authorize(w, r)
	if !ok {
		return
	}
	c, found := s.store.channel(r.Form.Get("channel"))
	if !found || !s.store.covers(s.store.installOf(g.UserID), c.Team) || (c.Private && !c.Member) {
		writeError(w, "channel_not_found")
		return
	}
	scope := "channels:read"
	if c.Private {
		scope = "groups:read"
	}
	if !hasScope(g, scope) {
		sandbox.WriteJSON(w, http.StatusOK, slackError{Error: "missing_scope", Needed: scope, Provided: strings.Join(g.Scopes, ",")})
		return
	}
	s.store.mu.Lock()
	wc := s.store.wireChannel(&c)
	s.store.mu.Unlock()
	sandbox.WriteJSON(w, http.StatusOK, map[string]any{"ok": true, "channel": wc})
}
