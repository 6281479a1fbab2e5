package slacksandbox

import (
	"fmt"
	"strings"
)

// The wire types below render Slack's JSON shapes: messages as
// conversations.history/replies and the Events API return them, and
// conversation objects as conversations.list returns them.

type wireText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type wireSection struct {
	Type     string     `json:"type"`
	Elements []wireText `json:"elements"`
}

type wireBlock struct {
	Type     string        `json:"type"`
	BlockID  string        `json:"block_id"`
	Elements []wireSection `json:"elements"`
}

type wireEdited struct {
	User string `json:"user"`
	TS   string `json:"ts"`
}

type wireReaction struct {
	Name  string   `json:"name"`
	Users []string `json:"users"`
	Count int      `json:"count"`
}

type wireIcons struct {
	Image36 string `json:"image_36"`
	Image48 string `json:"image_48"`
	Image72 string `json:"image_72"`
}

type wireBotProfile struct {
	ID      string    `json:"id"`
	Deleted bool      `json:"deleted"`
	Name    string    `json:"name"`
	Updated int64     `json:"updated"`
	AppID   string    `json:"app_id"`
	Icons   wireIcons `json:"icons"`
	TeamID  string    `json:"team_id"`
}

type wireFile struct {
	ID                 string `json:"id"`
	Created            int64  `json:"created"`
	Timestamp          int64  `json:"timestamp"`
	Name               string `json:"name"`
	Title              string `json:"title"`
	Mimetype           string `json:"mimetype"`
	Filetype           string `json:"filetype"`
	PrettyType         string `json:"pretty_type"`
	User               string `json:"user"`
	UserTeam           string `json:"user_team"`
	Editable           bool   `json:"editable"`
	Size               int    `json:"size"`
	Mode               string `json:"mode"`
	IsExternal         bool   `json:"is_external"`
	ExternalType       string `json:"external_type"`
	IsPublic           bool   `json:"is_public"`
	PublicURLShared    bool   `json:"public_url_shared"`
	DisplayAsBot       bool   `json:"display_as_bot"`
	Username           string `json:"username"`
	URLPrivate         string `json:"url_private"`
	URLPrivateDownload string `json:"url_private_download"`
	Permalink          string `json:"permalink"`
	PermalinkPublic    string `json:"permalink_public"`
	HasRichPreview     bool   `json:"has_rich_preview"`
	FileAccess         string `json:"file_access"`
}

// wireMessage is a message object. Event-only fields (channel, event_ts,
// channel_type) are empty in Web API answers.
type wireMessage struct {
	ClientMsgID     string          `json:"client_msg_id,omitempty"`
	Type            string          `json:"type"`
	Subtype         string          `json:"subtype,omitempty"`
	Hidden          bool            `json:"hidden,omitempty"`
	Text            string          `json:"text"`
	User            string          `json:"user,omitempty"`
	BotID           string          `json:"bot_id,omitempty"`
	AppID           string          `json:"app_id,omitempty"`
	Username        string          `json:"username,omitempty"`
	Icons           *wireIcons      `json:"icons,omitempty"`
	BotProfile      *wireBotProfile `json:"bot_profile,omitempty"`
	TS              string          `json:"ts"`
	Team            string          `json:"team,omitempty"`
	Blocks          []wireBlock     `json:"blocks,omitempty"`
	Edited          *wireEdited     `json:"edited,omitempty"`
	Inviter         string          `json:"inviter,omitempty"`
	ThreadTS        string          `json:"thread_ts,omitempty"`
	ParentUserID    string          `json:"parent_user_id,omitempty"`
	ReplyCount      int             `json:"reply_count,omitempty"`
	ReplyUsersCount int             `json:"reply_users_count,omitempty"`
	LatestReply     string          `json:"latest_reply,omitempty"`
	ReplyUsers      []string        `json:"reply_users,omitempty"`
	IsLocked        *bool           `json:"is_locked,omitempty"`
	Subscribed      *bool           `json:"subscribed,omitempty"`
	Files           []wireFile      `json:"files,omitempty"`
	Upload          *bool           `json:"upload,omitempty"`
	DisplayAsBot    *bool           `json:"display_as_bot,omitempty"`
	Root            *wireMessage    `json:"root,omitempty"`
	Reactions       []wireReaction  `json:"reactions,omitempty"`
	Channel         string          `json:"channel,omitempty"`
	EventTS         string          `json:"event_ts,omitempty"`
	ChannelType     string          `json:"channel_type,omitempty"`
}

func ptr[T any](v T) *T { return &v }

func textBlocks(ts, text string) []wireBlock {
	id := strings.ReplaceAll(clientMsgID("b", ts)[:5], "-", "x")
	return []wireBlock{{Type: "rich_text", BlockID: id, Elements: []wireSection{{
		Type: "rich_text_section", Elements: []wireText{{Type: "text", Text: text}},
	}}}}
}

// wireLocked renders m in the Web API shape. Callers hold s.mu.
func (s *store) wireLocked(m *message) wireMessage {
	team := s.teamOf(m.Channel).ID
	w := wireMessage{Type: "message", Subtype: m.Subtype, Text: m.Text, User: m.User, TS: m.TS, ClientMsgID: m.ClientMsgID}
	switch {
	case m.Subtype == "bot_message":
		w.BotID, w.Username = m.BotID, m.Username
		w.AppID = "A05DEPLOY1"
		w.Icons = &wireIcons{Image36: "https://a.slack-edge.com/80588/img/services/bots_36.png", Image48: "https://a.slack-edge.com/80588/img/services/bots_48.png", Image72: "https://a.slack-edge.com/80588/img/services/bots_72.png"}
	case m.BotID != "":
		w.BotID, w.AppID, w.Team = m.BotID, AppID, team
		w.BotProfile = &wireBotProfile{ID: m.BotID, Name: "Poblysh", Updated: SeedEpoch, AppID: AppID, TeamID: team,
			Icons: wireIcons{Image36: "https://avatars.slack-edge.com/poblysh_36.png", Image48: "https://avatars.slack-edge.com/poblysh_48.png", Image72: "https://avatars.slack-edge.com/poblysh_72.png"}}
		w.Blocks = textBlocks(m.TS, m.Text)
	case m.Subtype == "channel_join":
		w.Inviter = UserAlice
	case m.Subtype == "tombstone":
		// A deleted thread parent: hidden, no team or blocks, and its own
		// parent_user_id is USLACKBOT.
		w.Hidden, w.ParentUserID = true, m.User
	default:
		w.Team = team
		if u, ok := s.users[m.User]; ok {
			w.Team = u.Team
		}
		w.Blocks = textBlocks(m.TS, m.Text)
	}
	if m.EditedTS != "" {
		w.Edited = &wireEdited{User: m.User, TS: m.EditedTS}
	}
	for _, r := range m.Reactions {
		shown := r.Users
		if s.reactionUsers > 0 && len(shown) > s.reactionUsers {
			shown = shown[:s.reactionUsers]
		}
		w.Reactions = append(w.Reactions, wireReaction{Name: r.Name, Users: append([]string(nil), shown...), Count: len(r.Users)})
	}
	for _, f := range m.Files {
		w.Files = append(w.Files, s.wireFile(m, f))
	}
	if len(m.Files) > 0 {
		w.Upload, w.DisplayAsBot = ptr(false), ptr(false)
	}
	if m.ThreadTS != "" {
		w.ThreadTS = m.ThreadTS
	}
	if m.isReply() {
		if parent := s.findLocked(m.Channel, m.ThreadTS); parent != nil {
			w.ParentUserID = parent.User
			if m.Subtype == "thread_broadcast" {
				root := s.wireLocked(parent)
				w.Root = &root
			}
		}
		return w
	}
	replies := s.repliesLocked(m.Channel, m.TS)
	if len(replies) > 0 {
		w.ThreadTS = m.TS
		w.ReplyCount = len(replies)
		w.LatestReply = replies[len(replies)-1].TS
		seen := map[string]bool{}
		for _, r := range replies {
			if !seen[r.User] {
				seen[r.User] = true
				w.ReplyUsers = append(w.ReplyUsers, r.User)
			}
		}
		w.ReplyUsersCount = len(w.ReplyUsers)
		w.IsLocked, w.Subscribed = ptr(false), ptr(false)
	}
	return w
}

func (s *store) wireFile(m *message, f file) wireFile {
	t := s.teamOf(m.Channel)
	base := fmt.Sprintf("https://files.slack.com/files-pri/%s-%s/%s", t.ID, f.ID, f.Name)
	sec, _, _ := strings.Cut(m.TS, ".")
	var created int64
	_, _ = fmt.Sscan(sec, &created)
	return wireFile{
		ID: f.ID, Created: created, Timestamp: created, Name: f.Name, Title: f.Title,
		Mimetype: f.Mimetype, Filetype: f.Filetype, PrettyType: strings.ToUpper(f.Filetype),
		User: m.User, UserTeam: t.ID, Editable: false, Size: 182344, Mode: "hosted",
		URLPrivate: base, URLPrivateDownload: strings.Replace(base, "files-pri", "files-pri/download", 1),
		Permalink:       fmt.Sprintf("https://%s.slack.com/files/%s/%s/%s", t.Domain, m.User, f.ID, f.Name),
		PermalinkPublic: fmt.Sprintf("https://slack-files.com/%s-%s-0a1b2c3d4e", t.ID, f.ID),
		FileAccess:      "visible",
	}
}

type wireTopic struct {
	Value   string `json:"value"`
	Creator string `json:"creator"`
	LastSet int64  `json:"last_set"`
}

// wireChannel is a conversation object as conversations.list returns it
// (users.conversations omits is_member and num_members).
type wireChannel struct {
	ID                      string    `json:"id"`
	Name                    string    `json:"name"`
	IsChannel               bool      `json:"is_channel"`
	IsGroup                 bool      `json:"is_group"`
	IsIM                    bool      `json:"is_im"`
	IsMpIM                  bool      `json:"is_mpim"`
	IsPrivate               bool      `json:"is_private"`
	Created                 int64     `json:"created"`
	IsArchived              bool      `json:"is_archived"`
	IsGeneral               bool      `json:"is_general"`
	Unlinked                int       `json:"unlinked"`
	NameNormalized          string    `json:"name_normalized"`
	IsShared                bool      `json:"is_shared"`
	IsOrgShared             bool      `json:"is_org_shared"`
	IsPendingExtShared      bool      `json:"is_pending_ext_shared"`
	PendingShared           []string  `json:"pending_shared"`
	ContextTeamID           string    `json:"context_team_id"`
	Updated                 int64     `json:"updated"`
	ParentConversation      *string   `json:"parent_conversation"`
	Creator                 string    `json:"creator"`
	IsExtShared             bool      `json:"is_ext_shared"`
	SharedTeamIDs           []string  `json:"shared_team_ids"`
	PendingConnectedTeamIDs []string  `json:"pending_connected_team_ids"`
	IsMember                bool      `json:"is_member"`
	Topic                   wireTopic `json:"topic"`
	Purpose                 wireTopic `json:"purpose"`
	PreviousNames           []string  `json:"previous_names"`
	NumMembers              int       `json:"num_members"`
}

func (s *store) wireChannel(c *channel) wireChannel {
	return wireChannel{
		ID: c.ID, Name: c.Name, IsChannel: !c.Private, IsGroup: false, IsPrivate: c.Private, IsMpIM: c.MPIM,
		Created: c.Created, IsArchived: c.Archived, IsGeneral: c.General, NameNormalized: c.Name,
		PendingShared: []string{}, ContextTeamID: c.Team, Updated: c.Created * 1000,
		Creator: UserAlice, SharedTeamIDs: []string{c.Team}, PendingConnectedTeamIDs: []string{},
		IsShared: c.ExtShared, IsExtShared: c.ExtShared,
		IsMember: c.Member, PreviousNames: []string{}, NumMembers: 4,
		Topic:   wireTopic{Value: c.Topic, Creator: UserAlice, LastSet: c.Created},
		Purpose: wireTopic{Value: c.Purpose, Creator: UserAlice, LastSet: c.Created},
	}
}
