package slacksandbox

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/poblysh/poblysh/sandbox"
)

// Besides the default workspace, the fake holds another company's
// workspace and an Enterprise Grid org of two workspaces, each with its own
// channels, users and bot membership. A token reaches what its install
// covers: one workspace, or (org-wide install) every workspace of its org.
// Who installs decides the install: the authorize endpoint approves as the
// login= user (UserAlice by default); an org admin installs org-wide, any
// other user installs on their own workspace.
const (
	// OtherTeamID is an independent workspace of another company.
	OtherTeamID   = "T07BOLT001"
	OtherTeamName = "Bolt Labs"
	// OtherBotUserID is the app's bot user in OtherTeamID.
	OtherBotUserID = "U07BOT0001"
	// OtherChannel is OtherTeamID's #news: public, the bot is a member.
	OtherChannel = "C07BOLTNEWS"
	// UserDave is a member of OtherTeamID.
	UserDave = "U07DAVE001"

	// EnterpriseID is an Enterprise Grid org holding GridTeamID and
	// GridTeam2ID.
	EnterpriseID   = "E08GLOBEX1"
	EnterpriseName = "Globex"
	// EnterpriseBotUserID is the app's bot user of an org-wide install.
	EnterpriseBotUserID = "W08GLOBBOT"
	// GridTeamID and GridTeam2ID are the org's workspaces.
	GridTeamID    = "T08GLOBHQ1"
	GridTeamName  = "Globex HQ"
	GridTeam2ID   = "T08GLOBEU1"
	GridTeam2Name = "Globex EU"
	// GridChannelHQ (in GridTeamID) and GridChannelEU (in GridTeam2ID) are
	// public channels the bot is a member of.
	GridChannelHQ = "C08HQNEWS1"
	GridChannelEU = "C08EUNEWS1"
	// GridChannelBoard is a private channel of GridTeamID without the bot.
	GridChannelBoard = "C08BOARD01"
	// UserGrace is an org admin of EnterpriseID: her install is org-wide
	// (oauth.v2.access answers "team": null and the enterprise).
	UserGrace = "W08GRACE01"
	// UserErin is a member of GridTeam2ID: her install is a workspace
	// install inside the org (team and enterprise both set).
	UserErin = "W08ERIN001"
)

// Signal counts a full backfill of the other workspaces' seeded channels
// yields (Options.Seed), counted by hand from seedOthers.
const (
	// OtherSignals: 2 messages and 1 reaction in OtherChannel.
	OtherSignals = 3
	// GridHQSignals: 2 messages in GridChannelHQ.
	GridHQSignals = 2
	// GridEUSignals: 1 message and 1 reaction in GridChannelEU.
	GridEUSignals = 2
)

// team is a workspace. BotUserID is the app's bot user of a workspace
// install; an org-wide install has the org's bot user instead.
type team struct {
	ID, Name, Domain string
	Enterprise       string // "" outside a Grid org
	BotUserID        string
}

// enterprise is an Enterprise Grid org. Revoked are workspaces of it
// the org took away from an org-wide install of the app
// (SetTeamAccess).
type enterprise struct {
	ID, Name  string
	BotUserID string
	Teams     []string
	Revoked   map[string]bool
}

// addOtherWorkspaces adds OtherTeamID and the Grid org to a new store.
func (s *store) addOtherWorkspaces() {
	s.teams[OtherTeamID] = &team{ID: OtherTeamID, Name: OtherTeamName, Domain: "bolt-labs", BotUserID: OtherBotUserID}
	s.enterprises[EnterpriseID] = &enterprise{ID: EnterpriseID, Name: EnterpriseName, BotUserID: EnterpriseBotUserID,
		Teams: []string{GridTeam2ID, GridTeamID}}
	s.teams[GridTeamID] = &team{ID: GridTeamID, Name: GridTeamName, Domain: "globex-hq", Enterprise: EnterpriseID, BotUserID: "U08BOTHQ01"}
	s.teams[GridTeam2ID] = &team{ID: GridTeam2ID, Name: GridTeam2Name, Domain: "globex-eu", Enterprise: EnterpriseID, BotUserID: "U08BOTEU01"}
	created := int64(SeedEpoch - 86400*10)
	s.channels = append(s.channels,
		&channel{ID: OtherChannel, Team: OtherTeamID, Name: "news", Topic: "Press mentions", Purpose: "Coverage of Bolt Labs.", Member: true, General: true, Created: created},
		&channel{ID: GridChannelHQ, Team: GridTeamID, Name: "hq-news", Topic: "HQ announcements", Purpose: "News from headquarters.", Member: true, General: true, Created: created},
		&channel{ID: GridChannelBoard, Team: GridTeamID, Name: "board", Topic: "Board only", Purpose: "Board discussions.", Private: true, Created: created},
		&channel{ID: GridChannelEU, Team: GridTeam2ID, Name: "eu-news", Topic: "EU press", Purpose: "European coverage.", Member: true, General: true, Created: created},
	)
	for _, u := range []user{
		{ID: UserDave, Name: "dave", RealName: "Dave Idowu", Display: "Dave", Team: OtherTeamID},
		{ID: OtherBotUserID, Name: "poblysh", RealName: "Poblysh", Display: "Poblysh", Team: OtherTeamID, Bot: true},
		{ID: UserGrace, Name: "grace", RealName: "Grace Hopper", Display: "Grace Hopper", Team: GridTeamID, OrgAdmin: true},
		{ID: UserErin, Name: "erin", RealName: "Erin Meyer", Team: GridTeam2ID},
		{ID: EnterpriseBotUserID, Name: "poblysh", RealName: "Poblysh", Display: "Poblysh", Team: GridTeamID, Bot: true},
	} {
		s.users[u.ID] = u
	}
}

// seedOthers fills the other workspaces' channels with a short history.
func (s *store) seedOthers() {
	at := func(min int) string { return tsAt(SeedEpoch+int64(min)*60, 200) }
	for _, m := range []*message{
		{Channel: OtherChannel, TS: at(5), User: UserDave, Text: "Bolt Labs raises its seed round.", Reactions: []*reaction{{Name: "rocket", Users: []string{UserDave}}}},
		{Channel: OtherChannel, TS: at(6), User: UserDave, Text: "Interview with Wired on Thursday."},
		{Channel: GridChannelHQ, TS: at(7), User: UserGrace, Text: "Globex Q1 results are out."},
		{Channel: GridChannelHQ, TS: at(8), User: UserGrace, Text: "Press call at noon."},
		{Channel: GridChannelBoard, TS: at(9), User: UserGrace, Text: "Confidential: acquisition talks."},
		{Channel: GridChannelEU, TS: at(10), User: UserErin, Text: "Le Monde covers the EU launch.", Reactions: []*reaction{{Name: "fr", Users: []string{UserGrace}}}},
	} {
		if m.Subtype == "" && m.BotID == "" {
			m.ClientMsgID = clientMsgID(m.Channel, m.TS)
		}
		s.addLocked(m)
	}
}

// installation is what a token reaches: one workspace (Team), or every
// workspace of an org (Org, Enterprise).
type installation struct {
	Team       string // the workspace of a workspace install; "" for org installs
	Enterprise string // the org of an org install, or the org of Team
	Org        bool
	BotUserID  string
}

// installOf is the install a user's approval makes. Unknown users install
// on the default workspace, as the single-workspace fake always did.
func (s *store) installOf(userID string) installation {
	u, ok := s.users[userID]
	if !ok {
		u = user{Team: s.team}
	}
	t := s.teams[u.Team]
	if u.OrgAdmin && t.Enterprise != "" {
		e := s.enterprises[t.Enterprise]
		return installation{Enterprise: e.ID, Org: true, BotUserID: e.BotUserID}
	}
	return installation{Team: t.ID, Enterprise: t.Enterprise, BotUserID: t.BotUserID}
}

// covers reports whether the install reaches a workspace: its own, or
// for an org-wide install each workspace of the org it was not taken
// away from.
func (s *store) covers(in installation, teamID string) bool {
	if !in.Org {
		return in.Team == teamID
	}
	e := s.enterprises[in.Enterprise]
	return slices.Contains(e.Teams, teamID) && !e.Revoked[teamID]
}

// teamsOf lists the workspaces an install reaches, sorted.
func (s *store) teamsOf(in installation) []string {
	if !in.Org {
		return []string{in.Team}
	}
	e := s.enterprises[in.Enterprise]
	out := slices.DeleteFunc(slices.Clone(e.Teams), func(t string) bool { return e.Revoked[t] })
	return slices.Sorted(slices.Values(out))
}

// SetTeamAccess gives a workspace of a Grid org to the org-wide install of
// the app (granted) or takes it away, as an org admin does in the admin
// console: the org token reaches the workspace's channels (auth.teams.list
// lists it) or no longer does (team_access_not_granted,
// channel_not_found), and the workspace's events are delivered for the
// org's install or no longer are. It returns the team_access_granted or
// team_access_revoked event, in the shape of Slack's current reference
// (https://docs.slack.dev/reference/events/team_access_granted/,
// https://docs.slack.dev/reference/events/team_access_revoked/): the org
// and the event nested one level down, authorizations without the org's
// install. It is delivered only once the org installed the app.
func (s *Server) SetTeamAccess(teamID string, granted bool) (*Event, error) {
	s.store.mu.Lock()
	t, ok := s.store.teams[teamID]
	var e *enterprise
	if ok && t.Enterprise != "" {
		e = s.store.enterprises[t.Enterprise]
		if e.Revoked == nil {
			e.Revoked = map[string]bool{}
		}
		e.Revoked[teamID] = !granted
	}
	s.store.mu.Unlock()
	if e == nil {
		return nil, fmt.Errorf("%w: workspace %q of a Grid org", ErrNotFound, teamID)
	}
	typ := "team_access_revoked"
	if granted {
		typ = "team_access_granted"
	}
	inner, err := json.Marshal(map[string]any{"team_id": nil, "enterprise_id": e.ID, "api_app_id": AppID,
		"event": map[string]any{"type": typ, "team_ids": []string{teamID}}})
	if err != nil {
		return nil, fmt.Errorf("slacksandbox: encode %s event: %w", typ, err)
	}
	env := map[string]any{"token": VerificationToken, "team_id": teamID, "api_app_id": AppID, "event": json.RawMessage(inner),
		"type": "event_callback", "event_id": "Ev" + strings.ToUpper(sandbox.RandomString(10)), "event_time": s.now().Unix(),
		"authorizations": []map[string]any{{"enterprise_id": e.ID, "team_id": teamID, "is_bot": false, "is_enterprise_install": false}}}
	body, err := json.Marshal(env)
	if err != nil {
		return nil, fmt.Errorf("slacksandbox: encode envelope: %w", err)
	}
	return &Event{ID: env["event_id"].(string), Type: typ, Inner: inner, Body: body, Deliverable: s.orgInstalled(e.ID)}, nil
}

// teamOf returns the workspace of a channel (the default one for unknown
// channels).
func (s *store) teamOf(channelID string) *team {
	if c := s.channelLocked(channelID); c != nil {
		return s.teams[c.Team]
	}
	return s.teams[s.team]
}

// SetBotMembership invites the app's bot to a channel (member true) or
// removes it. Without the bot, history answers not_in_channel (public) or
// channel_not_found (private), users.conversations no longer lists the
// channel and Slack sends the app none of its events.
func (s *Server) SetBotMembership(channelID string, member bool) error {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	c := s.store.channelLocked(channelID)
	if c == nil {
		return fmt.Errorf("%w: channel %q", ErrNotFound, channelID)
	}
	c.Member = member
	return nil
}

// ArchiveChannel archives a channel, as a member does
// (https://docs.slack.dev/reference/methods/conversations.archive): its
// history stays readable to the bot, which stays a member, but it takes no
// new message or reaction (is_archived), its conversation objects answer
// is_archived: true, and users.conversations and conversations.list leave
// it out only when asked to with exclude_archived. The general channel
// cannot be archived (cant_archive_general), nor an archived one again
// (already_archived). Slack's channel_archive event is not sent (the
// connector subscribes to none).
func (s *Server) ArchiveChannel(channelID string) error {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	c := s.store.channelLocked(channelID)
	switch {
	case c == nil:
		return fmt.Errorf("%w: channel %q", ErrNotFound, channelID)
	case c.General:
		return fmt.Errorf("%w: cant_archive_general", ErrInvalid)
	case c.Archived:
		return fmt.Errorf("%w: already_archived", ErrInvalid)
	}
	c.Archived = true
	return nil
}

// AddChannel adds a channel to a workspace (member: the bot is in it).
func (s *Server) AddChannel(teamID, id, name string, private, member bool) error {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	if s.store.teams[teamID] == nil {
		return fmt.Errorf("%w: workspace %q", ErrNotFound, teamID)
	}
	if s.store.channelLocked(id) != nil {
		return fmt.Errorf("%w: channel %q exists", ErrInvalid, id)
	}
	s.store.channels = append(s.store.channels, &channel{ID: id, Team: teamID, Name: name, Private: private, Member: member,
		Created: s.now().Unix()})
	return nil
}

// orgInstalled reports whether an org-wide install of the app exists for
// an org: its workspaces' events then carry the org's authorization.
func (s *Server) orgInstalled(enterpriseID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.orgInstalls[enterpriseID]
}

func (s *Server) noteInstall(in installation) {
	if in.Org {
		s.mu.Lock()
		s.orgInstalls[in.Enterprise] = true
		s.mu.Unlock()
	}
}
