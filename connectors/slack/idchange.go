package slack

import "strings"

// A legacy private channel (id G…) shared with another organisation
// through Slack Connect gets a new id for good: Slack sends
// channel_id_changed {old_channel_id, new_channel_id}, and "from now on,
// all messages and other happenstance around the channel will be
// associated with the new ID"; the old id is unknown to every method
// (https://api.slack.com/events/channel_id_changed). Slack's example, and
// what apps meet, is the same id with C for G (G012Y48650T →
// C012Y48650T): that is where a sync looks for a channel whose G… id is
// gone, and it follows it there only when the connection's own token
// lists the bot in it (docs/providers/slack.md, "Shared private
// channels").

// sharedChannelID is the id a legacy private channel has once shared
// through Slack Connect; ok is false for an id that is not a G… one.
func sharedChannelID(id string) (string, bool) {
	rest, ok := strings.CutPrefix(id, "G")
	if !ok || !channelIDPattern.MatchString(id) {
		return "", false
	}
	return "C" + rest, true
}
