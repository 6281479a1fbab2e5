package slack

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	slacksandbox "github.com/poblysh/poblysh/sandbox/slack"
)

// Ids of a legacy private channel before and after it is shared through
// Slack Connect (the sandbox's ShareChannel, after Slack's example).
const legacyID, sharedID = "G012Y48650T", "C012Y48650T"

// legacyChannel adds the private channel legacyID, with the bot, and posts
// n messages in it.
func (f *fake) legacyChannel(t *testing.T, n int) {
	t.Helper()
	require.NoError(t, f.sb.AddChannel(slacksandbox.DefaultTeamID, legacyID, "launch-war-room", true, true))
	for range n {
		_, err := f.sb.PostMessage(slacksandbox.MessageInput{Channel: legacyID, User: slacksandbox.UserBob, Text: "war room"})
		require.NoError(t, err)
	}
}

// membersChannels is the per-channel cursor map of a "channels" cursor.
func membersChannels(t *testing.T, raw json.RawMessage) map[string]*chanCursor {
	t.Helper()
	var cur membersCursor
	require.NoError(t, json.Unmarshal(raw, &cur))
	return cur.Channels
}

// TestMembersStreamFollowsSharedChannel: a connection reading every
// channel of the bot has read a legacy private channel; shared through
// Slack Connect, the channel's id changes for good. The next pass lists it
// under its new id and reads it from where the old id's cursor stood: its
// history is not read again under the new id (whose dedupe keys differ,
// so it would be stored twice), only what came after.
func TestMembersStreamFollowsSharedChannel(t *testing.T) {
	f := newFake(t, slacksandbox.Options{Seed: true}, nil)
	conn, tok := f.connect(t)
	hc := fastClient(tok.AccessToken)
	f.legacyChannel(t, 3)
	sigs, cursor, _ := f.drain(t, conn, hc, membersStream, nil)
	require.Len(t, sigs, slacksandbox.GeneralSignals+slacksandbox.PressSignals+3)
	hw := membersChannels(t, cursor)[legacyID].HW
	require.NotEmpty(t, hw)

	_, err := f.sb.ShareChannel(legacyID)
	require.NoError(t, err)
	_, err = f.sb.PostMessage(slacksandbox.MessageInput{Channel: sharedID, User: slacksandbox.UserCarol, Text: "after the share"})
	require.NoError(t, err)

	sigs, cursor, _ = f.drain(t, conn, hc, membersStream, cursor)
	var keys []string
	for _, s := range sigs {
		keys = append(keys, s.DedupeKey)
	}
	require.Len(t, keys, 1, "only the message after the share: %v", keys)
	require.Contains(t, keys[0], "msg:"+sharedID+":")
	chans := membersChannels(t, cursor)
	require.NotContains(t, chans, legacyID)
	require.Contains(t, chans, sharedID)
	require.True(t, tsAfter(chans[sharedID].HW, hw))
}

// TestMembersStreamKeepsCursorOfChannelGoneMidPass: the channel's id
// changes after a pass listed it and before the pass reads it. The read
// finds the old id gone and the pass goes on, keeping the old id's cursor,
// so the next pass, which lists the new id, carries it over.
func TestMembersStreamKeepsCursorOfChannelGoneMidPass(t *testing.T) {
	f := newFake(t, slacksandbox.Options{Seed: true}, nil)
	conn, tok := f.connect(t)
	hc := fastClient(tok.AccessToken)
	f.legacyChannel(t, 2)
	_, cursor, _ := f.drain(t, conn, hc, membersStream, nil)

	// A pass lists the bot's channels (one listing page), then the id
	// changes before it reads the channel.
	page, err := f.fetch(t, conn, hc, membersStream, cursor)
	require.NoError(t, err)
	var cur membersCursor
	require.NoError(t, json.Unmarshal(page.Next, &cur))
	require.False(t, cur.Listing)
	require.Contains(t, cur.Pending, legacyID)
	_, err = f.sb.ShareChannel(legacyID)
	require.NoError(t, err)
	sigs, cursor, _ := f.drain(t, conn, hc, membersStream, page.Next)
	require.Empty(t, sigs)
	require.Contains(t, membersChannels(t, cursor), legacyID, "kept until a listing says where it went")

	sigs, cursor, _ = f.drain(t, conn, hc, membersStream, cursor)
	require.Empty(t, sigs, "the channel's history is not read again under its new id")
	require.Contains(t, membersChannels(t, cursor), sharedID)
	require.NotContains(t, membersChannels(t, cursor), legacyID)
}
