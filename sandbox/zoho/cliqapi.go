package zohosandbox

import (
	"encoding/base64"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/poblysh/poblysh/sandbox"
)

// cliqRoutes mounts the Cliq REST API the connector uses, per DC:
//
//	GET /{dc}/cliq/api/v2/users/{id}              a user of the caller's organisation
//	GET /{dc}/cliq/api/v2/channels                channels (joined=true: the caller's), next_token pages
//	GET /{dc}/cliq/api/v2/chats/{chat}/messages   fromtime/totime/limit, newest first
//	GET /{dc}/cliq/api/v3/mentions                the caller's mentions, newest first, next_token pages
//
// Each counts against the caller's per-minute threshold of its API; past
// it the API is locked (HTTP 400 request_limit_exceeded) for the lock
// period, and every call during the lock starts it again.
func (s *Server) cliqRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /{dc}/cliq/api/v2/users/{id}", s.cliqAPI("users", s.handleCliqUser))
	mux.HandleFunc("GET /{dc}/cliq/api/v2/channels", s.cliqAPI("channels", s.handleChannels))
	mux.HandleFunc("GET /{dc}/cliq/api/v2/chats/{chat}/messages", s.cliqAPI("messages", s.handleMessages))
	mux.HandleFunc("GET /{dc}/cliq/api/v3/mentions", s.cliqAPI("mentions", s.handleMentions))
}

// cliqAPI authenticates, throttles and hands the caller to h.
func (s *Server) cliqAPI(api string, h func(http.ResponseWriter, *http.Request, *User)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		u, ok := s.apiUser(w, r)
		if !ok {
			return
		}
		if !s.limits.allow(u.ZUID, api) {
			throttled(w)
			return
		}
		h(w, r, u)
	}
}

func cliqError(w http.ResponseWriter, status int, code, msg string) {
	sandbox.WriteJSON(w, status, map[string]string{"code": code, "message": msg})
}

func (s *Server) handleCliqUser(w http.ResponseWriter, r *http.Request, caller *User) {
	u, ok := s.user(r.PathValue("id"))
	if !ok || u.OrgID != caller.OrgID {
		cliqError(w, http.StatusNotFound, "user_not_found", "The requested user does not exist.")
		return
	}
	sandbox.WriteJSON(w, http.StatusOK, map[string]any{"data": map[string]any{
		"id": u.ZUID, "zuid": u.ZUID, "email_id": u.Email, "first_name": u.First, "last_name": u.Last,
		"display_name": u.Name(), "organization_id": u.OrgID, "organization_name": u.OrgName, "time_zone": u.TimeZone,
		"status": "active", "user_type": "member",
	}})
}

// pageToken encodes an offset as an opaque token.
func pageToken(off int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("o:" + strconv.Itoa(off)))
}

func pageOffset(tok string) (int, bool) {
	if tok == "" {
		return 0, true
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || !strings.HasPrefix(string(b), "o:") {
		return 0, false
	}
	n, err := strconv.Atoi(string(b[2:]))
	return n, err == nil && n >= 0
}

func limitParam(r *http.Request, def, max int) int {
	n, err := strconv.Atoi(r.URL.Query().Get("limit"))
	if err != nil || n <= 0 {
		return def
	}
	return min(n, max)
}

func (s *Server) handleChannels(w http.ResponseWriter, r *http.Request, u *User) {
	q := r.URL.Query()
	off, ok := pageOffset(q.Get("next_token"))
	if !ok {
		cliqError(w, http.StatusBadRequest, "invalid_next_token", "The next_token is invalid.")
		return
	}
	joined := q.Get("joined") == "true"
	s.cliq.mu.Lock()
	var list []*Channel
	for _, ch := range s.cliq.channels {
		if ch.OrgID == u.OrgID && ch.DC == r.PathValue("dc") && (!joined || ch.Members[u.ZUID]) {
			list = append(list, ch)
		}
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
	limit := limitParam(r, 50, 100)
	out := []map[string]any{}
	for i := off; i < len(list) && i < off+limit; i++ {
		ch := list[i]
		out = append(out, map[string]any{
			"channel_id": ch.ChannelID, "chat_id": ch.ChatID, "name": "#" + ch.Name, "unique_name": ch.UniqueName,
			"level": "organization", "joined": ch.Members[u.ZUID], "participant_count": len(ch.Members),
			"organization_id": ch.OrgID, "creation_time": "2025-11-03T09:12:40+01:00", "status": "created",
			"last_modified_time": strconv.FormatInt(lastTime(ch), 10),
		})
	}
	s.cliq.mu.Unlock()
	ans := map[string]any{"channels": out, "has_more": off+limit < len(list)}
	if off+limit < len(list) {
		ans["next_token"] = pageToken(off + limit)
	}
	sandbox.WriteJSON(w, http.StatusOK, ans)
}

func lastTime(ch *Channel) int64 {
	if n := len(ch.Messages); n > 0 {
		return ch.Messages[n-1].Time
	}
	return 0
}

func msParam(r *http.Request, name string, def int64) int64 {
	v, err := strconv.ParseInt(r.URL.Query().Get(name), 10, 64)
	if err != nil || v <= 0 {
		return def
	}
	return v
}

func (s *Server) handleMessages(w http.ResponseWriter, r *http.Request, u *User) {
	s.cliq.mu.Lock()
	defer s.cliq.mu.Unlock()
	ch, ok := s.cliq.channels[r.PathValue("chat")]
	if !ok || ch.DC != r.PathValue("dc") {
		cliqError(w, http.StatusNotFound, "chat_not_found", "The requested chat does not exist or you are not a participant.")
		return
	}
	if !ch.Members[u.ZUID] {
		cliqError(w, http.StatusForbidden, "chat_access_denied", "You must be a participant in this chat to perform this action.")
		return
	}
	from, to := msParam(r, "fromtime", 0), msParam(r, "totime", s.now().UnixMilli()+1)
	limit := limitParam(r, 50, 100)
	out := []map[string]any{}
	for i := len(ch.Messages) - 1; i >= 0 && len(out) < limit; i-- { // newest first
		m := ch.Messages[i]
		if m.Time < from || m.Time > to {
			continue
		}
		out = append(out, s.messageJSON(m))
	}
	sandbox.WriteJSON(w, http.StatusOK, map[string]any{"data": out})
}

// messageJSON renders a message as the REST API does (time a number; bot
// calls name messages otherwise, see Call).
func (s *Server) messageJSON(m *Message) map[string]any {
	out := map[string]any{
		"id": m.ID, "time": m.Time, "type": m.Type,
		"sender":  map[string]any{"id": m.Sender, "name": m.SenderName},
		"content": map[string]any{"text": m.Text},
	}
	if len(m.Mentions) > 0 {
		var ms []map[string]any
		for _, z := range m.Mentions {
			if u, ok := s.users[z]; ok {
				ms = append(ms, map[string]any{"id": z, "name": u.Name(), "type": "user"})
			}
		}
		out["mentions"] = ms
	}
	if len(m.Reactions) > 0 {
		out["reactions"] = s.reactionsJSON(m)
	}
	return out
}

// reactionsJSON renders a message's reactions in the form Zoho documents
// (its Cliq OpenAPI messages.yml, get-reactions): an object of emoji to
// strings "formatted as timestamp:user_id:username", in reaction order
// ("😍": ["1710152648241:802515329:Diana", …]).
func (s *Server) reactionsJSON(m *Message) map[string][]string {
	out := map[string][]string{}
	for _, re := range m.Reactions {
		for i, z := range re.Users {
			name := z
			if u, ok := s.users[z]; ok {
				name = u.Name()
			}
			out[re.Emoji] = append(out[re.Emoji], strconv.FormatInt(re.Times[i], 10)+":"+z+":"+name)
		}
	}
	return out
}

type mention struct {
	ch *Channel
	m  *Message
}

func (s *Server) handleMentions(w http.ResponseWriter, r *http.Request, u *User) {
	q := r.URL.Query()
	off, ok := pageOffset(q.Get("next_token"))
	if !ok {
		cliqError(w, http.StatusBadRequest, "INVALID_PARAMS", "Invalid query parameter value.")
		return
	}
	now := s.now().UnixMilli()
	from, to := msParam(r, "from_time", now-int64(30*24*time.Hour/time.Millisecond)), msParam(r, "to_time", now+1)
	limit := limitParam(r, 25, 100)
	s.cliq.mu.Lock()
	defer s.cliq.mu.Unlock()
	var all []mention
	for _, ch := range s.cliq.channels {
		if !ch.Members[u.ZUID] || ch.DC != r.PathValue("dc") {
			continue
		}
		for _, m := range ch.Messages {
			if m.Time < from || m.Time > to || m.Sender == u.ZUID {
				continue
			}
			for _, z := range m.Mentions {
				if z == u.ZUID {
					all = append(all, mention{ch, m})
					break
				}
			}
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].m.Time > all[j].m.Time })
	loc, err := time.LoadLocation(u.TimeZone)
	if err != nil {
		loc = time.UTC
	}
	data := []map[string]any{}
	for i := off; i < len(all) && i < off+limit; i++ {
		ch, m := all[i].ch, all[i].m
		data = append(data, map[string]any{
			"id": ch.ChatID + "|" + m.Sender + "|" + strconv.FormatInt(m.Time, 10), "status": "unread", "activity_type": "mentions",
			"chat": map[string]any{"id": ch.ChatID, "title": ch.Name, "type": "channel", "channel_type": "open",
				"channel_display_name": ch.Name},
			"message": map[string]any{
				"id": m.ID, "type": m.Type,
				"time":    time.UnixMilli(m.Time).In(loc).Format("2006-01-02T15:04:05.000Z07:00"),
				"content": map[string]any{"text": m.Text},
				"sender":  map[string]any{"id": m.Sender, "name": m.SenderName},
			},
			"mention": map[string]any{"recipient_id": u.ZUID, "mentioned_users": []map[string]any{
				{"id": u.ZUID, "name": u.Name(), "display_name": "@" + u.Name(), "type": "user"},
			}},
		})
	}
	more := off+limit < len(all)
	ans := map[string]any{"type": "mention", "has_more": more, "url": "/api/v3/mentions", "data": data}
	if more {
		ans["next_token"] = pageToken(off + limit)
	}
	sandbox.WriteJSON(w, http.StatusOK, ans)
}
