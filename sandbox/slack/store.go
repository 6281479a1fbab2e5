package slacksandbox

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Workspace identity of the fake. Ids follow Slack's shapes (T…, U…, B…, A…).
const (
	DefaultTeamID   = "T05SANDBOX"
	DefaultTeamName = "Poblysh Sandbox"
	// TeamDomain is the workspace subdomain auth.test reports.
	TeamDomain = "poblysh-sandbox"
	// BotUserID is the installed app's bot user.
	BotUserID = "U05BOT0001"
	// BotID is the installed app's bot id (messages it posts carry it).
	BotID = "B05SANDBOX"
	// AppID is the installed app.
	AppID = "A05SANDBOX"
	// DeployBotID is a legacy integration posting bot_message subtypes.
	DeployBotID = "B05DEPLOY1"
	// Users of the workspace; UserAlice installs the app.
	UserAlice = "U05ALICE01"
	UserBob   = "U05BOB0001"
	UserCarol = "U05CAROL01"
)

// Channels of the workspace. They always exist; Options.Seed only fills
// their history.
const (
	// ChannelGeneral is public and the bot is a member.
	ChannelGeneral = "C05GENERAL"
	// ChannelPress is private and the bot is a member.
	ChannelPress = "C05PRESS01"
	// ChannelRandom is public and the bot is not a member: history answers
	// not_in_channel and conversations.list reports is_member false.
	ChannelRandom = "C05RANDOM1"
	// GroupDM is a group DM (mpim) of Alice, Bob and the bot. Its id
	// starts with G, like a legacy private channel's, as Slack's do
	// (https://api.slack.com/types/mpim); users.conversations lists it
	// for types=mpim only, and its messages' channel_type is "mpim".
	GroupDM = "G05GROUPDM"
)

// Signal counts a full backfill of the seeded history yields, counted by
// hand from seed below with the connector's documented rules: plain,
// thread_broadcast, file_share and me_message messages and thread replies
// are message.posted; bot messages (subtype bot_message or bot_id) and
// channel_join are skipped; every (reaction, user) on any message is one
// reaction.added.
const (
	// GeneralSignals: 8 top-level + 4 replies message.posted, 8 reaction.added.
	GeneralSignals = 20
	// PressSignals: 4 top-level + 2 replies message.posted, 2 reaction.added.
	PressSignals = 8
	// GeneralHistory and PressHistory count the top-level messages
	// conversations.history returns (thread_broadcast replies included).
	GeneralHistory = 11
	PressHistory   = 5
)

// SeedEpoch is the first seeded timestamp: 2026-01-01T12:00:00Z.
const SeedEpoch = 1767268800

// ExpectedSignals maps each stream a connector syncs to the exact Signal
// count of a full backfill of the seeded history: one history:<channel>
// stream per member channel, and the "channels" stream (every member
// channel) for connections without configured channels.
func ExpectedSignals() map[string]int {
	return map[string]int{
		"history:" + ChannelGeneral: GeneralSignals,
		"history:" + ChannelPress:   PressSignals,
		"channels":                  GeneralSignals + PressSignals,
	}
}

// channel is a public or private channel of one workspace. Member says
// whether the app's bot is in it: Slack sends the app events of member
// channels only, and history answers not_in_channel elsewhere. ExtShared:
// shared with another organisation through Slack Connect (ShareChannel).
// Archived: read-only, its history still readable (ArchiveChannel).
type channel struct {
	ID, Team, Name, Topic, Purpose      string
	Private, Member, General, ExtShared bool
	Archived                            bool
	// MPIM marks a group DM (Private too).
	MPIM    bool
	Created int64
}

// kind is the users.conversations type that lists the channel.
func (c *channel) kind() string {
	switch {
	case c.MPIM:
		return "mpim"
	case c.Private:
		return "private_channel"
	}
	return "public_channel"
}

// user is a member of one workspace; an OrgAdmin of an Enterprise Grid
// org installs the app org-wide.
// Display is the profile's display_name, which people may leave empty
// (Slack then shows the real name); Bot marks a bot user (is_bot).
type user struct {
	ID, Name, RealName, Team string
	Display                  string
	OrgAdmin, Bot            bool
}

type reaction struct {
	Name  string
	Users []string
}

type file struct{ ID, Name, Title, Mimetype, Filetype string }

// message is a stored message; thread metadata is derived from replies.
type message struct {
	Channel, TS, User, Text, Subtype, ThreadTS string
	BotID, Username                            string
	ClientMsgID                                string
	EditedTS                                   string
	Reactions                                  []*reaction
	Files                                      []file
}

func (m *message) isReply() bool { return m.ThreadTS != "" && m.ThreadTS != m.TS }

// inHistory reports whether conversations.history lists m: top-level
// messages and replies broadcast to the channel.
func (m *message) inHistory() bool { return !m.isReply() || m.Subtype == "thread_broadcast" }

// store is the state of every workspace. Safe for concurrent use.
type store struct {
	mu          sync.Mutex
	team        string // the default workspace
	teams       map[string]*team
	enterprises map[string]*enterprise
	channels    []*channel
	users       map[string]user
	messages    map[string][]*message // by channel, ascending ts
	lastTS      time.Time
	// reactionUsers is how many users a reaction lists at most; count
	// stays exact (Options.ReactionUsersShown).
	reactionUsers int
}

// newStore builds the default workspace (id and name from Options) and
// the other workspaces and Grid org of workspaces.go.
func newStore(teamID, teamName string) *store {
	s := &store{team: teamID, messages: map[string][]*message{}, users: map[string]user{},
		teams: map[string]*team{}, enterprises: map[string]*enterprise{}}
	s.teams[teamID] = &team{ID: teamID, Name: teamName, Domain: TeamDomain, BotUserID: BotUserID}
	s.channels = []*channel{
		{ID: ChannelGeneral, Team: teamID, Name: "general", Topic: "Company-wide announcements", Purpose: "This channel is for workspace-wide communication.", Member: true, General: true, Created: SeedEpoch - 86400*30},
		{ID: ChannelPress, Team: teamID, Name: "press-room", Topic: "Embargoed news", Purpose: "Coordinating press and media.", Private: true, Member: true, Created: SeedEpoch - 86400*20},
		{ID: ChannelRandom, Team: teamID, Name: "random", Topic: "Non-work banter", Purpose: "A place for non-work-related flimflam.", Created: SeedEpoch - 86400*30},
		{ID: GroupDM, Team: teamID, Name: "mpdm-alice--bob--poblysh-1", Purpose: "Group messaging with: @alice @bob @poblysh", Private: true, MPIM: true, Member: true, Created: SeedEpoch - 86400*10},
	}
	for _, u := range []user{
		{ID: UserAlice, Name: "alice", RealName: "Alice Martin", Display: "Alice Martin"},
		{ID: UserBob, Name: "bob", RealName: "Bob Okafor"}, // no display name: Slack shows the real name
		{ID: UserCarol, Name: "carol", RealName: "Carol Chen", Display: "Carol Chen"},
		{ID: BotUserID, Name: "poblysh", RealName: "Poblysh", Display: "Poblysh", Bot: true},
	} {
		u.Team = teamID
		s.users[u.ID] = u
	}
	s.addOtherWorkspaces()
	return s
}

// channel returns a copy of a channel (its membership changes under mu).
func (s *store) channel(id string) (channel, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.channelLocked(id); c != nil {
		return *c, true
	}
	return channel{}, false
}

func (s *store) channelLocked(id string) *channel {
	for _, c := range s.channels {
		if c.ID == id {
			return c
		}
	}
	return nil
}

// tsAt formats a Slack ts from seconds and microseconds.
func tsAt(sec int64, micro int) string { return fmt.Sprintf("%d.%06d", sec, micro) }

// tsLess compares Slack ts strings numerically.
func tsLess(a, b string) bool {
	as, af, _ := strings.Cut(a, ".")
	bs, bf, _ := strings.Cut(b, ".")
	ai, _ := strconv.ParseInt(as, 10, 64)
	bi, _ := strconv.ParseInt(bs, 10, 64)
	if ai != bi {
		return ai < bi
	}
	au, _ := strconv.Atoi(af)
	bu, _ := strconv.Atoi(bf)
	return au < bu
}

// nextTS returns a fresh, strictly increasing ts at (or just after) now.
func (s *store) nextTS(now time.Time) string {
	if !now.After(s.lastTS) {
		now = s.lastTS.Add(time.Microsecond)
	}
	s.lastTS = now
	return tsAt(now.Unix(), now.Nanosecond()/1000)
}

func (s *store) addLocked(m *message) {
	list := append(s.messages[m.Channel], m)
	sort.SliceStable(list, func(i, j int) bool { return tsLess(list[i].TS, list[j].TS) })
	s.messages[m.Channel] = list
}

func (s *store) findLocked(channel, ts string) *message {
	for _, m := range s.messages[channel] {
		if m.TS == ts {
			return m
		}
	}
	return nil
}

// repliesLocked returns the replies of a thread, ascending.
func (s *store) repliesLocked(channel, threadTS string) []*message {
	var out []*message
	for _, m := range s.messages[channel] {
		if m.ThreadTS == threadTS && m.TS != threadTS {
			out = append(out, m)
		}
	}
	return out
}

func clientMsgID(channel, ts string) string {
	h := uint64(14695981039346656037)
	for _, c := range channel + ts {
		h = (h ^ uint64(c)) * 1099511628211
	}
	return fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", uint32(h>>32), uint16(h>>16), uint16(h)&0xfff, uint16(h>>4)&0xfff, h&0xffffffffffff)
}

// seed fills the member channels with a deterministic history in the past:
// threads, reactions, a file share, a /me message, bot messages and a join.
func (s *store) seed() {
	at := func(min, sec int) string { return tsAt(SeedEpoch+int64(min)*60+int64(sec), 100) }
	r := func(name string, users ...string) *reaction { return &reaction{Name: name, Users: users} }
	add := func(m *message) {
		if m.Subtype == "" && m.BotID == "" {
			m.ClientMsgID = clientMsgID(m.Channel, m.TS)
		}
		s.addLocked(m)
	}
	g, p := ChannelGeneral, ChannelPress
	t2, t10 := at(20, 0), at(100, 0)
	for _, m := range []*message{
		{Channel: g, TS: at(10, 0), User: UserAlice, Text: "Morning all! The launch checklist is in the shared doc.", Reactions: []*reaction{r("wave", UserBob, UserCarol)}},
		{Channel: g, TS: t2, User: UserBob, Text: "Press release draft v2 is ready for review: <https://docs.example.com/pr-v2|PR draft v2>", Reactions: []*reaction{r("eyes", UserAlice)}},
		{Channel: g, TS: at(21, 0), ThreadTS: t2, User: UserCarol, Text: "Looks good, one typo in paragraph 3.", Reactions: []*reaction{r("+1", UserBob)}},
		{Channel: g, TS: at(22, 0), ThreadTS: t2, User: UserAlice, Text: "Fixed, thanks!"},
		{Channel: g, TS: at(23, 0), ThreadTS: t2, User: UserBob, Subtype: "thread_broadcast", Text: "Final version approved :white_check_mark:"},
		{Channel: g, TS: at(30, 0), Subtype: "bot_message", BotID: DeployBotID, Username: "Deploy Bot", Text: "Deploy #482 to production finished", Reactions: []*reaction{r("tada", UserAlice)}},
		{Channel: g, TS: at(40, 0), User: UserCarol, Subtype: "channel_join", Text: "<@" + UserCarol + "> has joined the channel"},
		{Channel: g, TS: at(50, 0), User: UserAlice, Subtype: "file_share", Text: "Coverage report for last week", Files: []file{{ID: "F05COVER01", Name: "coverage-week-52.pdf", Title: "Coverage week 52", Mimetype: "application/pdf", Filetype: "pdf"}}},
		{Channel: g, TS: at(60, 0), User: BotUserID, BotID: BotID, Text: "Weekly metrics digest: 42 mentions, 7 articles"},
		{Channel: g, TS: at(70, 0), User: UserBob, Subtype: "me_message", Text: "is heading to the TechCrunch interview"},
		{Channel: g, TS: at(80, 0), User: UserCarol, Text: "A journalist from The Verge asked for a quote on the launch.", EditedTS: at(81, 0), Reactions: []*reaction{r("eyes", UserAlice, UserBob), r("fire", UserAlice)}},
		{Channel: g, TS: t10, User: UserAlice, Text: "Reminder: the embargo lifts at 9am PT tomorrow."},
		{Channel: g, TS: at(101, 0), ThreadTS: t10, User: UserBob, Text: "Noted."},
		{Channel: g, TS: at(102, 0), ThreadTS: t10, User: UserCarol, Text: "I will schedule the social posts."},
		{Channel: g, TS: at(110, 0), User: UserBob, Text: "Thanks team!"},
		{Channel: p, TS: at(15, 0), User: UserAlice, Text: "Embargoed: Series B announcement goes out Tuesday.", Reactions: []*reaction{r("lock", UserBob)}},
		{Channel: p, TS: at(25, 0), User: UserBob, Text: "Draft Q&A for the reporter call is up."},
		{Channel: p, TS: at(26, 0), ThreadTS: at(25, 0), User: UserAlice, Text: "Please add the hiring numbers."},
		{Channel: p, TS: at(27, 0), ThreadTS: at(25, 0), User: UserBob, Text: "Done.", Reactions: []*reaction{r("white_check_mark", UserAlice)}},
		{Channel: p, TS: at(35, 0), Subtype: "bot_message", BotID: DeployBotID, Username: "Calendar Bot", Text: "Reminder: press call at 3pm"},
		{Channel: p, TS: at(45, 0), User: UserCarol, Text: "TechCrunch confirmed for 10am."},
		{Channel: p, TS: at(55, 0), User: UserAlice, Text: "Great news, thank you Carol."},
		{Channel: ChannelRandom, TS: at(12, 0), User: UserBob, Text: "Anyone up for lunch?"},
		{Channel: ChannelRandom, TS: at(13, 0), User: UserCarol, Text: "Sure!"},
	} {
		add(m)
	}
	s.seedOthers()
}
