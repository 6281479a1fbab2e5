package slack

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/sandbox"
	slacksandbox "github.com/poblysh/poblysh/sandbox/slack"
)

// TestFetchPageRecordedAnswers drives FetchPage with Slack's recorded
// answers: what is sent, what each page yields, and the cursor between.
func TestFetchPageRecordedAnswers(t *testing.T) {
	var mu sync.Mutex
	var calls []url.Values
	var auths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.NoError(t, r.ParseForm())
		mu.Lock()
		auths = append(auths, r.Header.Get("Authorization"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		switch r.URL.Path {
		case "/api/users.info":
			_, _ = w.Write([]byte(`{"ok":true,"user":{"id":"` + r.PostForm.Get("user") + `","name":"h","real_name":"Real ` + r.PostForm.Get("user") + `","profile":{"display_name":""}}}`))
			return
		case "/api/conversations.info":
			_, _ = w.Write([]byte(`{"ok":true,"channel":{"id":"C061EG9SL","name":"press"}}`))
			return
		}
		mu.Lock()
		calls = append(calls, r.PostForm)
		mu.Unlock()
		switch r.URL.Path {
		case "/api/conversations.history":
			_, _ = w.Write(fixture(t, "api/conversations.history.json"))
		case "/api/conversations.replies":
			_, _ = w.Write(fixture(t, "api/conversations.replies.json"))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	p := newProvider(t, map[string]string{"POBLYSH_SLACK_API_URL": srv.URL + "/api/", "POBLYSH_SLACK_PAGE_SIZE": "4"})
	c := p.Connector.(*Connector)
	conn := connectors.Connection{Account: connectors.Account{ID: "T024BE7LD", Metadata: map[string]string{"domain": "acme-pr.slack.com"}}}
	req := connectors.PageRequest{Connection: conn, Stream: "history:C061EG9SL", HTTP: fastClient("xoxb-real"), Now: time.Now()}

	page, err := c.FetchPage(context.Background(), req)
	require.NoError(t, err)
	require.False(t, page.Done)
	require.Equal(t, 4, page.Items)
	require.Equal(t, map[string]int{kindMessage: 2, kindReaction: 4}, countKinds(page.Signals))
	require.JSONEq(t, `{"v":1,"run":{"page":"bmV4dF90czoxNzY3MjcyMzQwMDAwMTAw","high":"1767272940.001100","threads":[{"ts":"1767272400.000200"}]}}`, string(page.Next))

	req.Cursor = page.Next
	page, err = c.FetchPage(context.Background(), req)
	require.NoError(t, err)
	require.False(t, page.Done, "history has another page")
	require.Equal(t, 3, page.Items)
	require.Equal(t, []string{"msg:C061EG9SL:1767272460.000300", "reaction:C061EG9SL:1767272460.000300:U061F7AUR:white_check_mark"},
		[]string{page.Signals[0].DedupeKey, page.Signals[1].DedupeKey}, "the parent and the broadcast reply are not repeated")
	require.Len(t, page.Signals, 2)
	require.Equal(t, "https://acme-pr.slack.com/archives/C061EG9SL/p1767272460000300?thread_ts=1767272400.000200&cid=C061EG9SL", page.Signals[0].Payload.URL)
	require.JSONEq(t, `{"v":1,"run":{"page":"bmV4dF90czoxNzY3MjcyMzQwMDAwMTAw","high":"1767272940.001100"}}`, string(page.Next))

	require.Equal(t, url.Values{"channel": {"C061EG9SL"}, "limit": {"4"}, "inclusive": {"0"}, "include_all_metadata": {"0"}}, calls[0])
	require.Equal(t, url.Values{"channel": {"C061EG9SL"}, "ts": {"1767272400.000200"}, "limit": {"4"}, "inclusive": {"0"}, "include_all_metadata": {"0"}}, calls[1])
	require.Len(t, calls, 2, "one history or replies call per page")
	for _, a := range auths {
		require.Equal(t, "Bearer xoxb-real", a, "only the engine's token is sent, never slack-go's placeholder")
	}
	require.Equal(t, "press", page.Signals[0].Payload.Context.Name)
	require.Equal(t, "Real "+page.Signals[0].Payload.Actor.ID, page.Signals[0].Payload.Actor.Name)
}

// TestResumeFromEveryCursor stores the cursor after each page (through a
// JSON round trip, as jsonb would) and resumes from it with a fresh
// connector: the union is always exactly one full backfill.
func TestResumeFromEveryCursor(t *testing.T) {
	f := newFake(t, slacksandbox.Options{Seed: true}, map[string]string{"POBLYSH_SLACK_PAGE_SIZE": "3"})
	conn, tok := f.connect(t, slacksandbox.ChannelGeneral)
	hc := fastClient(tok.AccessToken)
	stream := "history:" + slacksandbox.ChannelGeneral
	full, _, pages := f.drain(t, conn, hc, stream, nil)
	require.Len(t, full, slacksandbox.GeneralSignals)
	require.Greater(t, pages, 5)
	for stop := 1; stop < pages; stop++ {
		var head []connectors.Signal
		var cursor json.RawMessage
		for range stop {
			p, err := f.fetch(t, conn, hc, stream, cursor)
			require.NoError(t, err)
			head = append(head, p.Signals...)
			cursor = p.Next
		}
		var v any
		require.NoError(t, json.Unmarshal(cursor, &v))
		stored, _ := json.Marshal(v)
		rest, _, _ := f.drain(t, conn, hc, stream, stored)
		require.ElementsMatch(t, dedupeKeys(full), dedupeKeys(append(head, rest...)), "resume after page %d", stop)
	}
}

func dedupeKeys(sigs []connectors.Signal) []string {
	out := make([]string, 0, len(sigs))
	for _, s := range sigs {
		out = append(out, s.DedupeKey)
	}
	slices.Sort(out)
	return out
}

// TestIncrementalReadsNewActivity: after a backfill, an incremental run
// reads only messages newer than the high-water mark, with the replies of
// their threads.
func TestIncrementalReadsNewActivity(t *testing.T) {
	f := newFake(t, slacksandbox.Options{Seed: true}, nil)
	conn, tok := f.connect(t, slacksandbox.ChannelGeneral)
	hc := fastClient(tok.AccessToken)
	stream := "history:" + slacksandbox.ChannelGeneral
	_, resting, _ := f.drain(t, conn, hc, stream, nil)

	parent, err := f.sb.PostMessage(slacksandbox.MessageInput{Channel: slacksandbox.ChannelGeneral, User: slacksandbox.UserBob, Text: "Wired wants an interview"})
	require.NoError(t, err)
	var p struct {
		TS string `json:"ts"`
	}
	require.NoError(t, json.Unmarshal(parent.Inner, &p))
	_, err = f.sb.PostMessage(slacksandbox.MessageInput{Channel: slacksandbox.ChannelGeneral, User: slacksandbox.UserCarol, Text: "I can take it", ThreadTS: p.TS})
	require.NoError(t, err)
	_, err = f.sb.PostMessage(slacksandbox.MessageInput{Channel: slacksandbox.ChannelGeneral, Bot: true, Text: "Deploy #483 finished"})
	require.NoError(t, err)

	sigs, resting2, _ := f.drain(t, conn, hc, stream, resting)
	require.Equal(t, map[string]int{kindMessage: 2}, countKinds(sigs), "the new parent and its reply; the bot message is skipped")
	var cur historyCursor
	require.NoError(t, json.Unmarshal(resting2, &cur))
	require.Nil(t, cur.Run)
	require.True(t, tsAfter(cur.HW, p.TS), "the high-water mark moved to the newest message (the bot's)")

	again, _, pages := f.drain(t, conn, hc, stream, resting2)
	require.Empty(t, again)
	require.Equal(t, 1, pages)
}

// TestBackfillDays bounds the first backfill: messages older than the
// window (and their threads) are not read.
func TestBackfillDays(t *testing.T) {
	f := newFake(t, slacksandbox.Options{Seed: true}, map[string]string{"POBLYSH_SLACK_BACKFILL_DAYS": "1"})
	conn, tok := f.connect(t, slacksandbox.ChannelGeneral)
	// One day and 55 minutes after the first seeded message: the window
	// starts at minute 55 of the seed, before the /me message (minute 70).
	now := time.Unix(slacksandbox.SeedEpoch, 0).Add(24*time.Hour + 55*time.Minute)
	var sigs []connectors.Signal
	var cursor json.RawMessage
	for {
		p, err := f.conn.FetchPage(context.Background(), connectors.PageRequest{Connection: conn, Stream: "history:" + slacksandbox.ChannelGeneral, Cursor: cursor, HTTP: fastClient(tok.AccessToken), Now: now})
		require.NoError(t, err)
		sigs = append(sigs, p.Signals...)
		cursor = p.Next
		if p.Done {
			break
		}
	}
	// /me, the edited message (+3 reactions), the embargo thread (+2 replies), "Thanks team!".
	require.Equal(t, map[string]int{kindMessage: 6, kindReaction: 3}, countKinds(sigs))
	first := f.sb.Requests()
	var oldest string
	for _, r := range first {
		if r.Method == "conversations.history" {
			oldest = r.Params.Get("oldest")
			break
		}
	}
	require.Equal(t, "1767272100.000000", oldest)
}

// TestBackfillDaysBoundsThreadParents: BACKFILL_DAYS bounds the thread
// parents a backfill lists (conversations.history lists parents, not
// replies), so a reply posted within the window to a thread whose parent is
// older is not read: not by the backfill, and not by a later run when the
// parent is older than thread_lookback too. A thread whose parent is in the
// window is read with its replies. docs/providers/slack.md ("Streams and
// cursors") says so; the reply's event is what stores it.
func TestBackfillDaysBoundsThreadParents(t *testing.T) {
	f := newFake(t, slacksandbox.Options{Seed: true}, map[string]string{"POBLYSH_SLACK_BACKFILL_DAYS": "1"})
	conn, tok := f.connect(t, slacksandbox.ChannelGeneral)
	hc := fastClient(tok.AccessToken)
	stream := "history:" + slacksandbox.ChannelGeneral
	oldParent := fmt.Sprintf("%d.000100", slacksandbox.SeedEpoch+20*60) // months before the window
	ev, err := f.sb.PostMessage(slacksandbox.MessageInput{Channel: slacksandbox.ChannelGeneral, User: slacksandbox.UserCarol, Text: "Reply to an old thread", ThreadTS: oldParent})
	require.NoError(t, err)
	oldReply := eventTS(t, ev)
	ev, err = f.sb.PostMessage(slacksandbox.MessageInput{Channel: slacksandbox.ChannelGeneral, User: slacksandbox.UserAlice, Text: "A new thread"})
	require.NoError(t, err)
	newParent := eventTS(t, ev)
	ev, err = f.sb.PostMessage(slacksandbox.MessageInput{Channel: slacksandbox.ChannelGeneral, User: slacksandbox.UserBob, Text: "Reply to the new thread", ThreadTS: newParent})
	require.NoError(t, err)
	newReply := eventTS(t, ev)

	sigs, resting, _ := f.drain(t, conn, hc, stream, nil)
	_, err = f.sb.PostMessage(slacksandbox.MessageInput{Channel: slacksandbox.ChannelGeneral, User: slacksandbox.UserBob, Text: "later"})
	require.NoError(t, err)
	time.Sleep(10 * time.Millisecond)
	more, _, _ := f.drain(t, conn, hc, stream, resting) // incremental, default 7d thread_lookback
	keys := map[string]bool{}
	for _, s := range append(sigs, more...) {
		keys[s.DedupeKey] = true
	}
	require.True(t, keys[messageKey(slacksandbox.ChannelGeneral, newParent)])
	require.True(t, keys[messageKey(slacksandbox.ChannelGeneral, newReply)], "a thread in the window is read with its replies")
	require.False(t, keys[messageKey(slacksandbox.ChannelGeneral, oldReply)], "a reply in the window to a thread older than it is not read")
}

// clockedFake is a seeded sandbox and connector whose clocks are *now:
// the sandbox stamps posted messages with it, and drainAt syncs at it.
func clockedFake(t *testing.T, now *time.Time, env map[string]string) *fake {
	t.Helper()
	fk, err := sandbox.New(Name, sandbox.Options{Seed: true, Now: func() time.Time { return *now }})
	require.NoError(t, err)
	sb := fk.(*slacksandbox.Server)
	srv := httptest.NewServer(sb)
	t.Cleanup(srv.Close)
	e := sb.Env(srv.URL)
	maps.Copy(e, env)
	p := newProvider(t, e)
	return &fake{sb: sb, srv: srv, provider: p, conn: p.Connector.(*Connector)}
}

// drainAt reads a stream to Done with the sync's clock at now.
func (f *fake) drainAt(t *testing.T, conn connectors.Connection, hc *http.Client, stream string, cursor json.RawMessage, now time.Time) ([]connectors.Signal, json.RawMessage) {
	t.Helper()
	var all []connectors.Signal
	for range 1000 {
		p, err := f.conn.FetchPage(context.Background(), connectors.PageRequest{Connection: conn, Stream: stream, Cursor: cursor, HTTP: hc, Now: now})
		require.NoError(t, err)
		all, cursor = append(all, p.Signals...), p.Next
		if p.Done {
			return all, cursor
		}
	}
	t.Fatal("stream did not finish")
	return nil, nil
}

// TestBackfillDaysQuietChannelKeepsItsBound: a first backfill bounded by
// BACKFILL_DAYS that reads nothing (a channel quiet for longer than the
// window) keeps its bound as the high-water mark, so later runs go on from
// it. Without one every run was a new bounded backfill from its own
// now − BACKFILL_DAYS, and a message posted after the first sync was lost
// for good once the next sync came more than BACKFILL_DAYS later (a
// pause, needs_reauth, an outage; webhooks to such a connection store
// nothing).
func TestBackfillDaysQuietChannelKeepsItsBound(t *testing.T) {
	now := time.Unix(slacksandbox.SeedEpoch, 0).Add(30 * 24 * time.Hour) // the seeded history is a month old
	f := clockedFake(t, &now, map[string]string{"POBLYSH_SLACK_BACKFILL_DAYS": "7"})
	conn, tok := f.connect(t, slacksandbox.ChannelGeneral)
	hc := fastClient(tok.AccessToken)
	stream := historyPrefix + slacksandbox.ChannelGeneral

	first, resting := f.drainAt(t, conn, hc, stream, nil, now)
	require.Empty(t, first, "nothing in the last 7 days")
	bound := fmt.Sprintf("%d.000000", now.Add(-7*24*time.Hour).Unix())
	var cur historyCursor
	require.NoError(t, json.Unmarshal(resting, &cur))
	require.Equal(t, bound, cur.HW, "the window's bound, in Slack's ts format, is the high-water mark")

	now = now.Add(time.Hour)
	ev, err := f.sb.PostMessage(slacksandbox.MessageInput{Channel: slacksandbox.ChannelGeneral, User: slacksandbox.UserBob, Text: "posted after the first sync"})
	require.NoError(t, err)
	posted := eventTS(t, ev)

	now = now.Add(8 * 24 * time.Hour) // the next sync comes 8 days later
	second, resting := f.drainAt(t, conn, hc, stream, resting, now)
	require.Len(t, second, 1)
	require.Equal(t, messageKey(slacksandbox.ChannelGeneral, posted), second[0].DedupeKey, "a message posted after the first sync is read by the next one")
	cur = historyCursor{}
	require.NoError(t, json.Unmarshal(resting, &cur))
	require.Equal(t, posted, cur.HW)
	var oldest []string
	for _, r := range f.sb.Requests() {
		if r.Method == "conversations.history" {
			oldest = append(oldest, r.Params.Get("oldest"))
		}
	}
	require.Equal(t, bound, oldest[len(oldest)-1], "the second run reads after the first one's bound, not its own now − 7 days")

	// Without BACKFILL_DAYS a run that reads nothing has no bound to
	// keep: the next one reads the whole history again.
	unbounded := clockedFake(t, &now, nil)
	require.NoError(t, unbounded.sb.AddChannel(slacksandbox.DefaultTeamID, "C0QUIET001", "quiet", false, true))
	conn, tok = unbounded.connect(t, "C0QUIET001")
	hc = fastClient(tok.AccessToken)
	none, resting := unbounded.drainAt(t, conn, hc, historyPrefix+"C0QUIET001", nil, now)
	require.Empty(t, none)
	require.JSONEq(t, `{"v":1}`, string(resting))
	ev, err = unbounded.sb.PostMessage(slacksandbox.MessageInput{Channel: "C0QUIET001", User: slacksandbox.UserBob, Text: "first words"})
	require.NoError(t, err)
	later, _ := unbounded.drainAt(t, conn, hc, historyPrefix+"C0QUIET001", resting, now.Add(30*24*time.Hour))
	require.Len(t, later, 1)
	require.Equal(t, messageKey("C0QUIET001", eventTS(t, ev)), later[0].DedupeKey)
}

// TestBackfillDaysQuietChannelKeepsItsBoundOnChannels: the same on the
// "channels" stream, for a channel the bot joins whose only messages are
// older than the window: the pass that first reads it keeps the bound,
// and a message posted there after it is read by a pass more than
// BACKFILL_DAYS later.
func TestBackfillDaysQuietChannelKeepsItsBoundOnChannels(t *testing.T) {
	now := time.Unix(slacksandbox.SeedEpoch, 0).Add(30 * 24 * time.Hour)
	f := clockedFake(t, &now, map[string]string{"POBLYSH_SLACK_BACKFILL_DAYS": "7"})
	conn, tok := f.connect(t)
	hc := fastClient(tok.AccessToken)
	sigs, resting := f.drainAt(t, conn, hc, membersStream, nil, now)
	require.Empty(t, sigs, "General and Press have nothing in the last 7 days")
	require.NotContains(t, membersChannels(t, resting), slacksandbox.ChannelRandom)

	now = now.Add(time.Hour)
	require.NoError(t, f.sb.SetBotMembership(slacksandbox.ChannelRandom, true)) // its messages are a month old
	sigs, resting = f.drainAt(t, conn, hc, membersStream, resting, now)
	require.Empty(t, sigs)
	chans := membersChannels(t, resting)
	require.Contains(t, chans, slacksandbox.ChannelRandom)
	require.Equal(t, fmt.Sprintf("%d.000000", now.Add(-7*24*time.Hour).Unix()), chans[slacksandbox.ChannelRandom].HW, "the joined channel keeps its pass's bound")

	now = now.Add(time.Hour)
	ev, err := f.sb.PostMessage(slacksandbox.MessageInput{Channel: slacksandbox.ChannelRandom, User: slacksandbox.UserBob, Text: "posted after the bot joined"})
	require.NoError(t, err)
	posted := eventTS(t, ev)
	ev, err = f.sb.PostMessage(slacksandbox.MessageInput{Channel: slacksandbox.ChannelGeneral, User: slacksandbox.UserCarol, Text: "and one in general"})
	require.NoError(t, err)
	general := eventTS(t, ev)

	now = now.Add(8 * 24 * time.Hour) // the next pass comes 8 days later
	sigs, resting = f.drainAt(t, conn, hc, membersStream, resting, now)
	require.ElementsMatch(t, []string{messageKey(slacksandbox.ChannelRandom, posted), messageKey(slacksandbox.ChannelGeneral, general)}, dedupeKeys(sigs),
		"a message posted in the joined channel after its first pass is read, and one in a channel quiet since the first pass")
	chans = membersChannels(t, resting)
	require.Equal(t, posted, chans[slacksandbox.ChannelRandom].HW)
	require.Equal(t, general, chans[slacksandbox.ChannelGeneral].HW)
}

// TestNonMarketplacePacing: with NON_MARKETPLACE, history and replies ask
// for at most 15 messages and are spaced by the per-workspace limiter,
// shared by concurrent syncs of the same workspace.
func TestNonMarketplacePacing(t *testing.T) {
	f := newFake(t, slacksandbox.Options{Seed: true}, map[string]string{"POBLYSH_SLACK_NON_MARKETPLACE": "true", "POBLYSH_SLACK_PAGE_SIZE": "500"})
	const every = 150 * time.Millisecond
	f.conn.slowEvery = every
	conn, tok := f.connect(t, slacksandbox.ChannelGeneral, slacksandbox.ChannelPress)
	var wg sync.WaitGroup
	for _, ch := range []string{slacksandbox.ChannelGeneral, slacksandbox.ChannelPress} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f.drain(t, conn, fastClient(tok.AccessToken), "history:"+ch, nil)
		}()
	}
	wg.Wait()
	var times []time.Time
	for _, r := range f.sb.Requests() {
		if r.Method == "conversations.history" || r.Method == "conversations.replies" {
			require.Equal(t, "15", r.Params.Get("limit"))
			times = append(times, r.At)
		}
	}
	require.Len(t, times, 5, "General: 1 history page + 2 threads; Press: 1 history page + 1 thread")
	// The turns are spaced exactly; a call's own latency shifts single
	// gaps on a loaded machine, so the span of all five is checked.
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	require.GreaterOrEqual(t, times[len(times)-1].Sub(times[0]), time.Duration(len(times)-1)*every-40*time.Millisecond, "the calls were spaced")
}

// TestMembersStreamSkipsChannelTheBotLeft: a member channel that answers
// not_in_channel during a pass is skipped, the others are still read; its
// cursor (nothing read) waits for the next listing.
func TestMembersStreamSkipsChannelTheBotLeft(t *testing.T) {
	f := newFake(t, slacksandbox.Options{Seed: true}, nil)
	conn, tok := f.connect(t)
	f.sb.Faults.Add(sandbox.Fault{Status: 200, Body: `{"ok":false,"error":"not_in_channel"}`, PathPrefix: "/api/conversations.history"})
	sigs, resting, _ := f.drain(t, conn, fastClient(tok.AccessToken), "channels", nil)
	require.Len(t, sigs, slacksandbox.PressSignals, "General (listed first) was dropped, Press read")
	var cur membersCursor
	require.NoError(t, json.Unmarshal(resting, &cur))
	require.Equal(t, []string{slacksandbox.ChannelGeneral, slacksandbox.ChannelPress}, slices.Sorted(maps.Keys(cur.Channels)))
	require.Empty(t, cur.Channels[slacksandbox.ChannelGeneral].HW, "nothing of General was read")
	require.Empty(t, cur.Pending)
	require.False(t, cur.Listing)

	sigs, _, _ = f.drain(t, conn, fastClient(tok.AccessToken), "channels", resting)
	require.Len(t, sigs, slacksandbox.GeneralSignals, "the next pass backfills the channel again")
}

// TestMembersStreamReadsArchivedChannelToItsEnd: a channel archived
// between two passes keeps its history readable (conversations.archive),
// so the next pass reads what was posted there before the archival, then
// drops the channel's cursor: later passes, like the routes, leave the
// archived channel out. A channel the stream never read, archived before
// its first listing, is not read at all.
func TestMembersStreamReadsArchivedChannelToItsEnd(t *testing.T) {
	f := newFake(t, slacksandbox.Options{Seed: true}, nil)
	conn, tok := f.connect(t)
	hc := fastClient(tok.AccessToken)
	_, resting, _ := f.drain(t, conn, hc, membersStream, nil)
	require.Contains(t, membersChannels(t, resting), slacksandbox.ChannelPress)

	_, err := f.sb.PostMessage(slacksandbox.MessageInput{Channel: slacksandbox.ChannelPress, User: slacksandbox.UserBob, Text: "The launch moves to Monday"})
	require.NoError(t, err)
	require.NoError(t, f.sb.ArchiveChannel(slacksandbox.ChannelPress))
	require.NoError(t, f.sb.AddChannel(slacksandbox.DefaultTeamID, "C0OLDNEWS1", "old-news", false, true))
	_, err = f.sb.PostMessage(slacksandbox.MessageInput{Channel: "C0OLDNEWS1", Text: "never read"})
	require.NoError(t, err)
	require.NoError(t, f.sb.ArchiveChannel("C0OLDNEWS1"))

	listing, err := f.fetch(t, conn, hc, membersStream, resting)
	require.NoError(t, err)
	require.NotNil(t, listing.Resource, "one listing page")
	require.Equal(t, []string{channelKey(slacksandbox.ChannelGeneral)}, listing.Resource.RouteKeys, "archived channels route nothing")
	sigs, resting, _ := f.drain(t, conn, hc, membersStream, listing.Next)
	require.Len(t, sigs, 1, "the message posted before the archival is read")
	require.Equal(t, "The launch moves to Monday", sigs[0].Payload.Title)
	chans := membersChannels(t, resting)
	require.NotContains(t, chans, slacksandbox.ChannelPress, "read to its end, the archived channel is dropped")
	require.NotContains(t, chans, "C0OLDNEWS1")
	require.Contains(t, chans, slacksandbox.ChannelGeneral)

	before := len(f.sb.Requests())
	sigs, _, _ = f.drain(t, conn, hc, membersStream, resting)
	require.Empty(t, sigs)
	for _, r := range f.sb.Requests()[before:] {
		if r.Method == "conversations.history" {
			require.Equal(t, slacksandbox.ChannelGeneral, r.Params.Get("channel"), "archived channels are not read again")
		}
		if r.Method == "users.conversations" {
			require.NotEqual(t, "true", r.Params.Get("exclude_archived"), "archived channels are listed (Slack's default)")
		}
	}
}

func TestFetchPageRejectsBadInput(t *testing.T) {
	f := newFake(t, slacksandbox.Options{Seed: true}, nil)
	conn, tok := f.connect(t, slacksandbox.ChannelGeneral)
	hc := fastClient(tok.AccessToken)
	for _, cur := range []string{`{"v":0,"hw":"1.0"}`, `[1,2]`, `{"v":1,"run":"x"}`} {
		_, err := f.fetch(t, conn, hc, "history:"+slacksandbox.ChannelGeneral, json.RawMessage(cur))
		require.ErrorIs(t, err, connectors.ErrCursorExpired, cur)
	}
	_, err := f.fetch(t, conn, hc, "members:everything", nil)
	require.ErrorIs(t, err, connectors.ErrInvalidConfig)
	_, err = f.fetch(t, conn, hc, "history:"+slacksandbox.ChannelRandom, nil)
	require.ErrorIs(t, err, connectors.ErrForbidden, "the bot is not in #random")
	require.Equal(t, "not_in_channel", slackCode(err))
	_, err = f.fetch(t, conn, hc, "history:C05NOSUCH1", nil)
	require.ErrorIs(t, err, connectors.ErrNotFound)
}

// TestNonMarketplaceWaitBeyondDeadline: when the next allowed call is later
// than the caller's deadline, the page fails fast with a rate limit that
// says how long to wait.
func TestNonMarketplaceWaitBeyondDeadline(t *testing.T) {
	f := newFake(t, slacksandbox.Options{Seed: true}, map[string]string{"POBLYSH_SLACK_NON_MARKETPLACE": "true"})
	conn, tok := f.connect(t, slacksandbox.ChannelGeneral)
	req := connectors.PageRequest{Connection: conn, Stream: "history:" + slacksandbox.ChannelGeneral, HTTP: fastClient(tok.AccessToken), Now: time.Now()}
	_, err := f.conn.FetchPage(context.Background(), req)
	require.NoError(t, err, "the first call of the minute goes through")
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err = f.conn.FetchPage(ctx, req)
	require.ErrorIs(t, err, connectors.ErrRateLimited)
	d, _ := connectors.RetryAfter(err)
	require.InDelta(t, time.Minute.Seconds(), d.Seconds(), 2)
	calls := 0
	for _, r := range f.sb.Requests() {
		if r.Method == "conversations.history" {
			calls++
		}
	}
	require.Equal(t, 1, calls)
}

// TestMembersStreamListsTheBotsChannels: the "channels" stream finds its
// channels with users.conversations (the bot's own channels), never by
// walking every public channel with conversations.list; #random, where
// the bot is not, is never read.
func TestMembersStreamListsTheBotsChannels(t *testing.T) {
	f := newFake(t, slacksandbox.Options{Seed: true}, nil)
	conn, tok := f.connect(t)
	sigs, _, _ := f.drain(t, conn, fastClient(tok.AccessToken), "channels", nil)
	require.Len(t, sigs, slacksandbox.GeneralSignals+slacksandbox.PressSignals)
	require.Positive(t, f.methodCalls("users.conversations"))
	require.Zero(t, f.methodCalls("conversations.list"))
	for _, r := range f.sb.Requests() {
		if r.Method == "conversations.history" {
			require.NotEqual(t, slacksandbox.ChannelRandom, r.Params.Get("channel"))
		}
	}
}

// TestThreadLookback: a reply to a thread older than the high-water mark
// is missed by a plain incremental run (history after hw does not list its
// parent) and found when thread_lookback covers the parent: the run reads
// history back to the window's start for parents with new replies, and
// reads only their replies after hw.
func TestThreadLookback(t *testing.T) {
	f := newFake(t, slacksandbox.Options{Seed: true}, nil)
	conn, tok := f.connect(t, slacksandbox.ChannelGeneral)
	hc := fastClient(tok.AccessToken)
	stream := "history:" + slacksandbox.ChannelGeneral
	// The seeded history spans two hours from SeedEpoch; syncs run a day later.
	now := time.Unix(slacksandbox.SeedEpoch, 0).Add(24 * time.Hour)
	drain := func(conn connectors.Connection, cursor json.RawMessage) ([]connectors.Signal, json.RawMessage) {
		var all []connectors.Signal
		for {
			p, err := f.conn.FetchPage(context.Background(), connectors.PageRequest{Connection: conn, Stream: stream, Cursor: cursor, HTTP: hc, Now: now})
			require.NoError(t, err)
			all = append(all, p.Signals...)
			cursor = p.Next
			if p.Done {
				return all, cursor
			}
		}
	}
	_, resting := drain(conn, nil)

	// The thread of Bob's press-release draft (minute 20) gets a reply.
	parent := fmt.Sprintf("%d.000100", slacksandbox.SeedEpoch+20*60)
	_, err := f.sb.PostMessage(slacksandbox.MessageInput{Channel: slacksandbox.ChannelGeneral, User: slacksandbox.UserCarol, Text: "Second typo in paragraph 4", ThreadTS: parent})
	require.NoError(t, err)

	off := conn
	off.Config = json.RawMessage(`{"channels":["` + slacksandbox.ChannelGeneral + `"],"thread_lookback":"0"}`)
	sigs, _ := drain(off, resting)
	require.Empty(t, sigs, "without thread_lookback the reply is only seen by event (the documented gap)")

	before := f.methodCalls("conversations.replies")
	sigs, again := drain(conn, resting) // default: 7 days
	require.Len(t, sigs, 1)
	require.Equal(t, "Second typo in paragraph 4", sigs[0].Payload.Title)
	require.Equal(t, parent, sigs[0].Payload.Attributes["thread_ts"])
	require.Equal(t, before+1, f.methodCalls("conversations.replies"), "only the thread with a new reply is read")
	reqs := f.sb.Requests()
	last := reqs[len(reqs)-1]
	require.Equal(t, "conversations.replies", last.Method)
	require.NotEmpty(t, last.Params.Get("oldest"), "replies after the high-water mark only")

	var cur historyCursor
	require.NoError(t, json.Unmarshal(again, &cur))
	require.Len(t, cur.Replied, 1, "the thread's newest reply read is remembered")
	require.Contains(t, cur.Replied, parent)
	before = f.methodCalls("conversations.replies")
	sigs, _ = drain(conn, again)
	require.Empty(t, sigs)
	require.Equal(t, before, f.methodCalls("conversations.replies"), "a thread without newer replies is not read again")

	// Once the window has passed, the thread is forgotten.
	now = time.Now().Add(30 * 24 * time.Hour) // the reply was posted at the real now
	_, later := drain(conn, again)
	cur = historyCursor{}
	require.NoError(t, json.Unmarshal(later, &cur))
	require.Empty(t, cur.Replied)
}

// TestThreadTSOnParentsAndReplies: thread_ts is set on a thread parent too
// (equal to ts, is_thread_reply false), as Slack sends it, and on every
// reply (the parent's ts, is_thread_reply true); a message outside a thread
// has none. The catalog's thread_ts says so (connectors/kinds.go).
func TestThreadTSOnParentsAndReplies(t *testing.T) {
	f := newFake(t, slacksandbox.Options{Seed: true}, nil)
	conn, tok := f.connect(t, slacksandbox.ChannelGeneral)
	sigs, _, _ := f.drain(t, conn, fastClient(tok.AccessToken), "history:"+slacksandbox.ChannelGeneral, nil)
	ts := func(min int) string { return fmt.Sprintf("%d.000100", slacksandbox.SeedEpoch+min*60) }
	parent := bySubject(sigs, kindMessage, ts(20))
	require.NotNil(t, parent)
	require.Equal(t, ts(20), parent.Payload.Attributes["thread_ts"], "a thread parent: thread_ts = ts")
	require.Equal(t, false, parent.Payload.Attributes["is_thread_reply"])
	for _, min := range []int{21, 22, 23} {
		reply := bySubject(sigs, kindMessage, ts(min))
		require.NotNil(t, reply, "reply at minute %d", min)
		require.Equal(t, ts(20), reply.Payload.Attributes["thread_ts"])
		require.Equal(t, true, reply.Payload.Attributes["is_thread_reply"])
	}
	plain := bySubject(sigs, kindMessage, ts(10))
	require.NotNil(t, plain)
	require.NotContains(t, plain.Payload.Attributes, "thread_ts")
	require.Equal(t, false, plain.Payload.Attributes["is_thread_reply"])
}
