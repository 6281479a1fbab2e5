package slack

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
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

// TestHistoryStreamFindsSharedChannel: a configured legacy private channel
// is shared through Slack Connect; its stream's next page finds the old id
// gone and says where the channel is now (Page.Moved), storing nothing.
// MoveResource names the new id in the config and hands it the stream's
// cursor, and the proof with the connection's token grants it. A G…
// channel that is simply gone stays an error, and so does a look-up that
// says nothing about it.
func TestHistoryStreamFindsSharedChannel(t *testing.T) {
	f := newFake(t, slacksandbox.Options{Seed: true}, nil)
	f.legacyChannel(t, 2)
	conn, tok := f.connect(t, slacksandbox.ChannelGeneral, legacyID)
	hc := fastClient(tok.AccessToken)
	stream := historyPrefix + legacyID
	sigs, cursor, _ := f.drain(t, conn, hc, stream, nil)
	require.Len(t, sigs, 2)

	_, err := f.sb.ShareChannel(legacyID)
	require.NoError(t, err)
	page, err := f.fetch(t, conn, hc, stream, cursor)
	require.NoError(t, err)
	require.Equal(t, sharedID, page.Moved)
	require.Empty(t, page.Signals)
	require.JSONEq(t, string(cursor), string(page.Next), "the cursor is what moves")

	mv, err := f.conn.MoveResource(conn, legacyID, sharedID)
	require.NoError(t, err)
	require.JSONEq(t, `{"channels":["`+sharedID+`","`+slacksandbox.ChannelGeneral+`"]}`, string(mv.Config))
	require.Equal(t, map[string]string{stream: historyPrefix + sharedID}, mv.Streams)
	moved := conn
	moved.Config = mv.Config
	report, err := f.conn.ProveAccess(t.Context(), connectors.AccessRequest{Connection: moved, HTTP: hc, Only: []string{sharedID}})
	require.NoError(t, err)
	require.Equal(t, []connectors.Resource{{Ref: sharedID, ID: sharedID, Name: "#launch-war-room", RouteKeys: []string{"channel:" + sharedID}}}, report.Granted)
	sigs, _, _ = f.drain(t, moved, hc, historyPrefix+sharedID, cursor)
	require.Empty(t, sigs, "the new stream goes on from the old cursor: nothing is read twice")

	_, err = f.conn.MoveResource(conn, slacksandbox.ChannelPress, sharedID)
	require.ErrorIs(t, err, connectors.ErrInvalidConfig, "not a configured channel")

	// A legacy channel deleted (nothing at its shared id) is not found.
	require.NoError(t, f.sb.AddChannel(slacksandbox.DefaultTeamID, "G0DELETED1", "gone", true, true))
	gone, _ := f.connect(t, "G0DELETED1")
	require.NoError(t, f.sb.SetBotMembership("G0DELETED1", false))
	_, err = f.fetch(t, gone, hc, historyPrefix+"G0DELETED1", nil)
	require.ErrorIs(t, err, connectors.ErrNotFound)
	require.Equal(t, "channel_not_found", slackCode(err))

	// The look-up is rate limited: the page fails with that, to be retried.
	require.NoError(t, f.sb.SetBotMembership("G0DELETED1", true))
	_, err = f.sb.ShareChannel("G0DELETED1")
	require.NoError(t, err)
	fault := sandboxFault(429, 3)
	fault.PathPrefix = "/api/conversations.info"
	f.sb.Faults.Add(fault)
	_, err = f.fetch(t, gone, hc, historyPrefix+"G0DELETED1", nil)
	require.ErrorIs(t, err, connectors.ErrRateLimited)
	page, err = f.fetch(t, gone, hc, historyPrefix+"G0DELETED1", nil)
	require.NoError(t, err)
	require.Equal(t, "C0DELETED1", page.Moved, "once Slack answers, the channel is found")
}

// TestChannelIDChangedReachesTheChannelsConnections: Slack's
// channel_id_changed for a legacy private channel shared through Slack
// Connect reaches the connection that configured the channel (it routes
// the old id's proof) and one that reads every channel of the install,
// workspace or org-wide; each syncs at once, and nothing is stored. The
// channel's next message carries the new id only.
func TestChannelIDChangedReachesTheChannelsConnections(t *testing.T) {
	const team, org = "T0TEAM0001", "E0ORG00001"
	c := &Connector{}
	routes := func(acct connectors.Account, cfg string, proved ...string) []string {
		t.Helper()
		keys, err := c.RouteKeys(connectors.Connection{Account: acct, Config: json.RawMessage(cfg)})
		require.NoError(t, err)
		for _, ch := range proved {
			keys = append(keys, channelKey(ch)) // what ProveAccess grants
		}
		return keys
	}
	workspace := connectors.Account{ID: team}
	orgWide := connectors.Account{ID: org, Metadata: map[string]string{"enterprise_install": "true"}}
	envelope := func(id, auth, event string) []byte {
		return []byte(`{"token":"x","team_id":"` + team + `","api_app_id":"A1","type":"event_callback","event_id":"` + id +
			`","event_time":1612206778,"authorizations":[` + auth + `],"event":` + event + `}`)
	}
	teamAuth := `{"team_id":"` + team + `","user_id":"UBOT","is_bot":true,"is_enterprise_install":false}`
	orgAuth := `{"enterprise_id":"` + org + `","team_id":"` + team + `","user_id":"UBOT","is_bot":true,"is_enterprise_install":true}`
	changed := `{"type":"channel_id_changed","old_channel_id":"` + legacyID + `","new_channel_id":"` + sharedID + `","event_ts":"1612206778.000000"}`
	reaches := func(d *connectors.WebhookDelivery, routes []string) bool {
		for _, k := range d.RouteKeys {
			if slices.Contains(routes, k) {
				return true
			}
		}
		return false
	}

	d, err := parseDelivery(envelope("Ev01", teamAuth, changed))
	require.NoError(t, err)
	require.Equal(t, "channel_id_changed", d.Event)
	require.True(t, d.Notify, "the connections sync at once")
	require.Empty(t, d.Signals)
	require.True(t, reaches(d, routes(workspace, `{"channels":["`+legacyID+`"]}`, legacyID)), "the connection that configured the channel: %v", d.RouteKeys)
	require.True(t, reaches(d, routes(workspace, `{"channels":[]}`)), "the connection reading every channel: %v", d.RouteKeys)
	require.False(t, reaches(d, routes(workspace, `{"channels":["C0OTHER001"]}`, "C0OTHER001")), "a connection that does not read the channel")

	d, err = parseDelivery(envelope("Ev02", orgAuth, changed))
	require.NoError(t, err)
	require.True(t, reaches(d, routes(orgWide, `{"channels":[]}`)), "an org-wide install reading every channel: %v", d.RouteKeys)

	msg, err := parseDelivery(envelope("Ev03", teamAuth, `{"type":"message","channel":"`+sharedID+
		`","channel_type":"group","user":"U1","text":"after the share","ts":"1612206800.000100","event_ts":"1612206800.000100"}`))
	require.NoError(t, err)
	require.Equal(t, []string{"team:" + team, channelKey(sharedID)}, msg.RouteKeys)
	require.Equal(t, "msg:"+sharedID+":1612206800.000100", msg.Signals[0].DedupeKey)
}
