package zohosandbox

import (
	"time"
)

// Seeded Cliq channels of the EU organisation (Zylker Europe).
const (
	ChatLaunch     = "CT_1207124540483314854_20071845" // #launch-room: Ada, Priya, Marco
	ChatPress      = "CT_1796005539471668330_20071845" // #press-desk: Ada, Priya
	ChatWater      = "CT_1291567033280789110_20071845" // #watercooler: Ada, Marco
	ChatLeadership = "CT_1334093121532995592_20071845" // #leadership: Priya only
	ChatUSGeneral  = "CT_2890538000000012345_64396901" // #general of the US organisation: Sam

	UniqueLaunch = "launchroom"
	UniquePress  = "pressdesk"
)

// What a backfill of the seeded Cliq history yields for UserAda.
const (
	// SeedLaunchSignals: 7 people's messages (the bot's one is skipped) and
	// 3 reactions (two on one message, one on another).
	SeedLaunchSignals = 10
	// SeedPressSignals: 5 messages and 1 reaction.
	SeedPressSignals = 6
	// SeedMentionSignals: Ada is mentioned twice in #launch-room, once in
	// #press-desk and once in #watercooler (mentions come from every chat).
	SeedMentionSignals = 4
)

// ExpectedCliq maps the streams of a connection of UserAda over
// #launch-room and #press-desk (by unique name) with mentions to the exact
// Signal counts of a backfill of the seed.
func ExpectedCliq() map[string]int {
	return map[string]int{
		"messages:" + UniqueLaunch: SeedLaunchSignals,
		"messages:" + UniquePress:  SeedPressSignals,
		"mentions":                 SeedMentionSignals,
	}
}

func members(zuids ...string) map[string]bool {
	out := map[string]bool{}
	for _, z := range zuids {
		out[z] = true
	}
	return out
}

// seed creates the channels and their history, ending an hour ago.
func (c *cliqStore) seed() {
	s := c.s
	for _, ch := range []*Channel{
		{ChannelID: "O1207124540483314854", ChatID: ChatLaunch, Name: "launch-room", UniqueName: UniqueLaunch, OrgID: OrgEU, DC: "eu",
			Members: members(UserAda, UserPriya, UserMarco)},
		{ChannelID: "O1796005539471668330", ChatID: ChatPress, Name: "press-desk", UniqueName: UniquePress, OrgID: OrgEU, DC: "eu",
			Members: members(UserAda, UserPriya)},
		{ChannelID: "O1291567033280789110", ChatID: ChatWater, Name: "watercooler", UniqueName: "watercooler", OrgID: OrgEU, DC: "eu",
			Members: members(UserAda, UserMarco)},
		{ChannelID: "O1334093121532995592", ChatID: ChatLeadership, Name: "leadership", UniqueName: "leadership", OrgID: OrgEU, DC: "eu",
			Members: members(UserPriya)},
		{ChannelID: "O2890538000000012345", ChatID: ChatUSGeneral, Name: "general", UniqueName: "general", OrgID: OrgUS, DC: "us",
			Members: members(UserSam)},
	} {
		c.addChannel(ch)
	}
	at := s.now().Add(-72 * time.Hour)
	next := func() time.Time { at = at.Add(17 * time.Minute); return at }
	post := func(chat, user, text string, mentions ...string) *Message {
		_, m, err := s.Post(MessageInput{Chat: chat, User: user, Text: text, Mentions: mentions, At: next()})
		if err != nil {
			panic("zohosandbox seed: " + err.Error())
		}
		return m
	}
	react := func(chat string, m *Message, user, emoji string) {
		if _, _, err := s.React(chat, m.ID, user, emoji); err != nil {
			panic("zohosandbox seed: " + err.Error())
		}
	}
	post(ChatLaunch, UserPriya, "Kick-off: the launch is on the 14th, embargo lifts at 09:00 CET.")
	m2 := post(ChatLaunch, UserMarco, "Press kit draft v3 is in the shared folder.")
	react(ChatLaunch, m2, UserPriya, "👍")
	react(ChatLaunch, m2, UserAda, "👍")
	post(ChatLaunch, UserPriya, "can you confirm the embargo time with the agency?", UserAda)
	post(ChatLaunch, BotID, "Reminder: stand-up in 10 minutes.")
	m5 := post(ChatLaunch, UserAda, "Confirmed with the agency: 09:00 CET *sharp*.")
	react(ChatLaunch, m5, UserMarco, "🎉")
	post(ChatLaunch, UserMarco, "please review the FAQ before Friday", UserAda)
	post(ChatLaunch, UserPriya, "Customer quotes approved by legal.")
	post(ChatLaunch, UserMarco, "Landing page copy frozen.")

	p1 := post(ChatPress, UserPriya, "Reuters asked for a comment on the pricing change.")
	react(ChatPress, p1, UserAda, "👀")
	post(ChatPress, UserAda, "I'll draft a statement.")
	post(ChatPress, UserPriya, "the statement needs your sign-off", UserAda)
	post(ChatPress, UserAda, "Signed off, sending now.")
	post(ChatPress, UserPriya, "Sent to the Reuters desk.")

	post(ChatWater, UserMarco, "lunch at the usual place?", UserAda)
	post(ChatWater, UserAda, "Yes, 12:30.")
	post(ChatLeadership, UserPriya, "Board deck draft attached.")
	post(ChatUSGeneral, UserSam, "Welcome to the US office channel.")
}
