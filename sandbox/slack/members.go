package slacksandbox

import (
	"net/http"
	"strings"

	"github.com/poblysh/poblysh/sandbox"
)

// teamParam resolves the workspace a listing method acts on. A workspace
// token acts on its own workspace and team_id is ignored; an org-wide
// token must name one of its org's workspaces with team_id
// (https://api.slack.com/enterprise/apps/changes-apis): without it Slack
// answers missing_argument, for a workspace the app was not granted
// team_access_not_granted.
func (s *Server) teamParam(w http.ResponseWriter, r *http.Request, g sandbox.Grant) (string, bool) {
	in := s.store.installOf(g.UserID)
	if !in.Org {
		return in.Team, true
	}
	id := r.Form.Get("team_id")
	switch {
	case id == "":
		writeError(w, "missing_argument")
		return "", false
	case !s.store.covers(in, id):
		writeError(w, "team_access_not_granted")
		return "", false
	}
	return id, true
}

// channelTypes reads the types parameter (default public_channel) and
// checks the scope each type needs.
func channelTypes(w http.ResponseWriter, r *http.Request, g sandbox.Grant) (map[string]bool, bool) {
	types := r.Form.Get("types")
	if types == "" {
		types = "public_channel"
	}
	want := map[string]bool{}
	for _, t := range strings.Split(types, ",") {
		t = strings.TrimSpace(t)
		want[t] = true
		scope := map[string]string{"public_channel": "channels:read", "private_channel": "groups:read"}[t]
		if scope != "" && !hasScope(g, scope) {
			sandbox.WriteJSON(w, http.StatusOK, slackError{Error: "missing_scope", Needed: scope, Provided: strings.Join(g.Scopes, ",")})
			return nil, false
		}
	}
	return want, true
}

// handleUsersConversations serves users.conversations for the app's bot:
// the channels of the workspace it is a member of, of the types asked
// (default public_channel), archived ones too unless exclude_archived is
// true, paginated with response_metadata.next_cursor. Like Slack, the
// limited conversation objects omit is_member and num_members
// (https://api.slack.com/methods/users.conversations: exclude_archived
// "Set to true to exclude archived channels from the list", default
// false).
func (s *Server) handleUsersConversations(w http.ResponseWriter, r *http.Request) {
	g, _, ok := s.authorize(w, r)
	if !ok {
		return
	}
	want, ok := channelTypes(w, r, g)
	if !ok {
		return
	}
	teamID, ok := s.teamParam(w, r, g)
	if !ok {
		return
	}
	limit := limitOf(r.Form.Get("limit"), 100, 999)
	excludeArchived := truthy(r.Form.Get("exclude_archived"))
	from := ""
	if cur := r.Form.Get("cursor"); cur != "" {
		var valid bool
		if from, valid = decodeCursor("member:", cur); !valid {
			writeError(w, "invalid_cursor")
			return
		}
	}
	type limited struct {
		wireChannel
		IsMember   *bool `json:"is_member,omitempty"`
		NumMembers *int  `json:"num_members,omitempty"`
	}
	out := struct {
		OK               bool         `json:"ok"`
		Channels         []limited    `json:"channels"`
		ResponseMetadata wireMetadata `json:"response_metadata"`
	}{OK: true, Channels: []limited{}}
	started := from == ""
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	for _, c := range s.store.channels {
		if c.ID == from {
			started = true
		}
		if !started || c.Team != teamID || !c.Member || !want[c.kind()] || (excludeArchived && c.Archived) {
			continue
		}
		if len(out.Channels) == limit {
			out.ResponseMetadata.NextCursor = encodeCursor("member:", c.ID)
			break
		}
		out.Channels = append(out.Channels, limited{wireChannel: s.store.wireChannel(c)})
	}
	sandbox.WriteJSON(w, http.StatusOK, out)
}

// handleAuthTeamsList serves auth.teams.list: the workspaces an org-wide
// install was granted (a workspace token sees its own workspace), sorted
// by id and paginated (https://api.slack.com/methods/auth.teams.list).
func (s *Server) handleAuthTeamsList(w http.ResponseWriter, r *http.Request) {
	g, _, ok := s.authorize(w, r)
	if !ok {
		return
	}
	limit := limitOf(r.Form.Get("limit"), 100, 1000)
	from := ""
	if cur := r.Form.Get("cursor"); cur != "" {
		var valid bool
		if from, valid = decodeCursor("teams:", cur); !valid {
			writeError(w, "invalid_cursor")
			return
		}
	}
	type wireListTeam struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	out := struct {
		OK               bool           `json:"ok"`
		Teams            []wireListTeam `json:"teams"`
		ResponseMetadata wireMetadata   `json:"response_metadata"`
	}{OK: true, Teams: []wireListTeam{}}
	for _, id := range s.store.teamsOf(s.store.installOf(g.UserID)) {
		if from != "" && id < from {
			continue
		}
		if len(out.Teams) == limit {
			out.ResponseMetadata.NextCursor = encodeCursor("teams:", id)
			break
		}
		out.Teams = append(out.Teams, wireListTeam{ID: id, Name: s.store.teams[id].Name})
	}
	sandbox.WriteJSON(w, http.StatusOK, out)
}
