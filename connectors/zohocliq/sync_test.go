package zohocliq

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
	zohosandbox "github.com/poblysh/poblysh/sandbox/zoho"
)

// Reactions have no bot event: an incremental pass re-reads the reaction
// window and emits each new (message, emoji, user) once; nothing else. The
// sandbox answers reactions in Zoho's documented form
// ("<ms>:<user id>:<name>"): the Signal is the user's, at that time.
func TestReactionsByPolling(t *testing.T) {
	t.Parallel()
	f := newFake(t, zohosandbox.Options{Seed: true}, fast(map[string]string{"POBLYSH_ZOHO_CLIQ_PAGE_SIZE": "4"}))
	conn, tok := f.connect(t, "", adaConfig)
	hc := f.client(tok.AccessToken)
	stream := "messages:" + zohosandbox.UniqueLaunch
	all, rest := f.drain(t, conn, hc, stream, nil)
	require.Len(t, all, zohosandbox.SeedLaunchSignals)

	// A reaction on a seeded message, a repeated reaction and a new message.
	ch, _ := f.sb.Channel(zohosandbox.ChatLaunch)
	first := ch.Messages[len(ch.Messages)-1].ID
	_, reacted, err := f.sb.React(zohosandbox.ChatLaunch, first, zohosandbox.UserAda, "🚀")
	require.NoError(t, err)
	var at int64 // the reaction's time at Cliq
	for _, r := range reacted.Reactions {
		if r.Emoji == "🚀" {
			at = r.Times[0]
		}
	}
	_, _, err = f.sb.React(zohosandbox.ChatLaunch, first, zohosandbox.UserAda, "🚀")
	require.NoError(t, err)
	_, msg, err := f.sb.Post(zohosandbox.MessageInput{Chat: zohosandbox.ChatLaunch, User: zohosandbox.UserMarco, Text: "FAQ merged"})
	require.NoError(t, err)

	again, rest := f.drain(t, conn, hc, stream, rest)
	require.Equal(t, map[string]int{"reaction.added": 1, "message.posted": 1}, countKinds(again))
	for _, s := range again {
		switch s.Kind {
		case "reaction.added":
			require.Equal(t, "reaction:"+zohosandbox.ChatLaunch+":"+first+":🚀:"+zohosandbox.UserAda, s.DedupeKey)
			require.Equal(t, connectors.Actor{ID: zohosandbox.UserAda, Name: "Ada Lovelace"}, s.Payload.Actor)
			require.Equal(t, at, s.OccurredAt.UnixMilli(), "the reaction's time at Cliq")
		case "message.posted":
			require.Equal(t, "msg:"+zohosandbox.ChatLaunch+":"+strconv.FormatInt(msg.Time, 10)+"_"+zohosandbox.UserMarco, s.DedupeKey)
			require.Equal(t, []string{"msg:" + zohosandbox.ChatLaunch + ":" + msg.ID}, s.AliasKeys)
		}
	}
	none, _ := f.drain(t, conn, hc, stream, rest)
	require.Empty(t, none, "each reaction once")
}

// A throttled answer locks the API for the lock period: the page fails as
// a rate limit for the whole lock, later calls fail fast without reaching
// Zoho (no call may extend the lock), other APIs go on, and once the lock
// has passed the stream completes.
func TestThrottledStreamWaitsForTheLock(t *testing.T) {
	t.Parallel()
	const lock = 400 * time.Millisecond
	f := newFake(t, zohosandbox.Options{Seed: true, LockPeriod: lock}, fast(map[string]string{"POBLYSH_ZOHO_CLIQ_LOCK_PERIOD": lock.String()}))
	conn, tok := f.connect(t, "", adaConfig)
	hc := f.client(tok.AccessToken)
	stream := "messages:" + zohosandbox.UniquePress
	f.sb.Throttle(zohosandbox.UserAda, "messages")

	_, err := f.fetch(t, conn, hc, stream, nil)
	require.ErrorIs(t, err, connectors.ErrRateLimited)
	d, ok := connectors.RetryAfter(err)
	require.True(t, ok)
	require.Equal(t, lock, d, "the lock period, not a guess")
	for range 3 {
		_, err = f.fetch(t, conn, hc, stream, nil)
		require.ErrorIs(t, err, connectors.ErrRateLimited)
	}
	_, during := f.sb.ThrottleStats()
	require.Equal(t, 1, during, "only the first call reached the locked API; the retries never did")

	mentions, _ := f.drain(t, conn, hc, mentionsStream, nil)
	require.Len(t, mentions, zohosandbox.SeedMentionSignals, "a lock on messages leaves mentions alone")

	time.Sleep(lock + 50*time.Millisecond)
	sigs, _ := f.drain(t, conn, hc, stream, nil)
	require.Len(t, sigs, zohosandbox.SeedPressSignals)
}

// Past Cliq's threshold of 15 messages calls a minute the API locks; the
// connector's own pace (14 a minute by default) never gets there.
func TestPaceStaysUnderTheThreshold(t *testing.T) {
	t.Parallel()
	f := newFake(t, zohosandbox.Options{Seed: true}, map[string]string{"POBLYSH_ZOHO_CLIQ_PACE": "messages=900"})
	c := f.conn
	require.Equal(t, 900, c.perMinute[apiMessages])
	def := newProvider(t, map[string]string{}).Connector.(*Connector)
	require.Equal(t, map[string]int{"messages": 14, "mentions": 28, "channels": 18, "users": 18}, def.perMinute)
	l := def.pace("a", apiMessages)
	var granted int
	for range 20 {
		if l.Allow() {
			granted++
		}
	}
	require.Equal(t, 2, granted, "a burst of two, then one every 60/14 s")
	_, err := New(f.provider.Config.WithSettings(map[string]string{"PACE": "messages=0"}))
	require.Error(t, err)
}

// Cliq documents no order for GET …/messages: an API answering oldest
// first is paged by moving the lower bound instead of the upper one.
func TestMessagesOldestFirst(t *testing.T) {
	t.Parallel()
	sb := zohosandbox.ForProduct(zohosandbox.ProductCliq, zohosandbox.Options{Seed: true})
	inner := httptest.NewServer(sb)
	t.Cleanup(inner.Close)
	var base string
	asc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/messages") {
			proxy(t, w, r, inner.URL)
			return
		}
		limit := r.URL.Query().Get("limit")
		q := r.URL.Query()
		q.Set("limit", "100")
		r.URL.RawQuery = q.Encode()
		rec := httptest.NewRecorder()
		proxy(t, rec, r, inner.URL)
		var ans struct {
			Data []json.RawMessage `json:"data"`
		}
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &ans))
		slices.Reverse(ans.Data)
		n := len(ans.Data)
		if l := atoi(limit); l < n {
			n = l
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"data": ans.Data[:n]})
	}))
	t.Cleanup(asc.Close)
	base = asc.URL
	env := sb.Env(base)
	for k, v := range fast(map[string]string{"POBLYSH_ZOHO_CLIQ_PAGE_SIZE": "2"}) {
		env[k] = v
	}
	p := newProvider(t, env)
	f := &fake{sb: sb, env: env, provider: p, conn: p.Connector.(*Connector)}
	conn, tok := f.connect(t, "", adaConfig)
	sigs, cur := f.drain(t, conn, f.client(tok.AccessToken), "messages:"+zohosandbox.UniqueLaunch, nil)
	require.Len(t, sigs, zohosandbox.SeedLaunchSignals)
	var keys []string
	for _, s := range sigs {
		keys = append(keys, s.DedupeKey)
	}
	require.Len(t, slices.Compact(slices.Sorted(slices.Values(keys))), len(keys), "nothing twice")
	again, _ := f.drain(t, conn, f.client(tok.AccessToken), "messages:"+zohosandbox.UniqueLaunch, cur)
	require.Empty(t, again)
}

func atoi(s string) int {
	n := 0
	for _, r := range s {
		n = n*10 + int(r-'0')
	}
	return n
}

func proxy(t *testing.T, w http.ResponseWriter, r *http.Request, to string) {
	req, err := http.NewRequestWithContext(r.Context(), r.Method, to+r.URL.RequestURI(), r.Body)
	require.NoError(t, err)
	req.Header = r.Header.Clone()
	req.Host = r.Host // the fake names itself after the host it was reached at
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

// Only channels the user is a member of are granted, each routed by its
// chat id bound to the connection; a stream of a channel the user left is
// access lost (not found).
func TestProveAccess(t *testing.T) {
	t.Parallel()
	f := newFake(t, zohosandbox.Options{Seed: true}, fast(nil))
	conn, tok := f.connect(t, "", map[string]any{"channels": []string{zohosandbox.UniqueLaunch, zohosandbox.ChatPress, "leadership", "nosuch"}})
	report, err := f.conn.ProveAccess(context.Background(), connectors.AccessRequest{Connection: conn, HTTP: f.client(tok.AccessToken)})
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"leadership", "nosuch"}, report.DeniedRefs())
	require.Len(t, report.Granted, 2)
	for _, g := range report.Granted {
		require.Len(t, g.RouteKeys, 1)
		require.Equal(t, "chat:"+testTenant+":"+zohosandbox.UserAda+":"+g.ID, g.RouteKeys[0])
	}
	_, err = f.fetch(t, conn, f.client(tok.AccessToken), "messages:leadership", nil)
	require.ErrorIs(t, err, connectors.ErrNotFound)
	ref, ok := f.conn.StreamResource("messages:leadership")
	require.True(t, ok)
	require.Equal(t, "leadership", ref)

	keys, err := f.conn.RouteKeys(conn)
	require.NoError(t, err)
	require.Equal(t, []string{"bot:" + testTenant + ":" + zohosandbox.UserAda, "mentions:" + testTenant + ":" + zohosandbox.UserAda}, keys)
}

// A user of the US data centre is served by US hosts; the EU fake's
// tokens mean nothing there.
func TestConnectionPerDataCentre(t *testing.T) {
	t.Parallel()
	f := newFake(t, zohosandbox.Options{Seed: true}, fast(nil))
	us, usTok := f.connect(t, zohosandbox.UserSam, map[string]any{"channels": []string{"general"}})
	require.Equal(t, "us", us.Account.Metadata["dc"])
	require.Equal(t, zohosandbox.OrgUS, us.Account.Metadata[metaOrgID])
	require.Equal(t, "Sam Carter", us.Account.Name)
	sigs, _ := f.drain(t, us, f.client(usTok.AccessToken), "messages:general", nil)
	require.Len(t, sigs, 1)
	require.True(t, strings.HasPrefix(sigs[0].Payload.URL, f.srv.URL+"/us/cliq/"), sigs[0].Payload.URL)

	eu, _ := f.connect(t, "", adaConfig)
	mixed := eu
	mixed.Account.Metadata = map[string]string{"dc": "eu", "accounts_server": f.srv.URL + "/eu/accounts"}
	_, err := f.fetch(t, mixed, f.client(usTok.AccessToken), "messages:"+zohosandbox.UniqueLaunch, nil)
	require.ErrorIs(t, err, connectors.ErrUnauthorized, "a US token at the EU host")
}

// A page of messages Cliq answers with a bare sender id is read; a full
// page with no message the connector can place in time fails the page as
// transient, naming why, instead of crashing the worker (it indexed the
// page's first time).
func TestMessagePagesOfUnexpectedShape(t *testing.T) {
	t.Parallel()
	const chat = "CT_1207124540483314854_20071845"
	now := time.UnixMilli(1773813900000)
	var page string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, page)
	}))
	t.Cleanup(srv.Close)
	p := newProvider(t, fast(map[string]string{"POBLYSH_ZOHO_CLIQ_API_URLS": "us=" + srv.URL, "POBLYSH_ZOHO_CLIQ_PAGE_SIZE": "2"}))
	conn := connectors.Connection{TenantID: testTenant, Account: connectors.Account{ID: "1", Metadata: map[string]string{"dc": "us"}}}
	fetch := func() (*connectors.Page, error) {
		return p.Connector.(*Connector).FetchPage(t.Context(), connectors.PageRequest{Connection: conn, Stream: "messages:" + chat,
			Cursor: json.RawMessage(`{"v":1,"chat":"` + chat + `","name":"#launch"}`), HTTP: srv.Client(), Now: now})
	}

	page = `{"data":[{"id":"1773813859592_1","time":1773813859592,"sender":"60040396507","content":{"text":"Wired is live"}}]}`
	got, err := fetch()
	require.NoError(t, err)
	require.Len(t, got.Signals, 1)
	require.Equal(t, "60040396507", got.Signals[0].Payload.Actor.ID)

	page = `{"data":[{"sender":"60040396507","content":{"text":"a"}},{"id":"x","content":{"text":"b"}}]}`
	require.NotPanics(t, func() { _, err = fetch() })
	require.ErrorIs(t, err, connectors.ErrTransient)
	require.ErrorContains(t, err, "a full page of 2 messages without a readable id or time")
}

// POBLYSH_<NAME>_BACKFILL_DAYS is a number of days from 1 to 36500: a
// larger count wrapped the window around (213504 days became 25 minutes).
func TestBackfillDaysAreBounded(t *testing.T) {
	t.Parallel()
	for v, ok := range map[string]bool{"30": true, "36500": true, "0": false, "36501": false, "213504": false, "a month": false} {
		_, err := New(connectors.Config{}.WithSettings(map[string]string{SettingBackfillDays: v}))
		require.Equal(t, ok, err == nil, "%s: %v", v, err)
	}
}

// A channel's first pass, or the mentions stream's, that reads nothing
// within BACKFILL_DAYS (a channel quiet for longer, a user not mentioned)
// keeps the window's start as its high-water mark, so later passes go on
// from it: each was a new backfill from its own now − BACKFILL_DAYS, and a
// message posted after the first pass was lost for good once the next pass
// came more than BACKFILL_DAYS later (a paused or needs_reauth connection,
// a worker outage).
func TestBackfillDaysQuietChannelKeepsItsBound(t *testing.T) {
	t.Parallel()
	f := newFake(t, zohosandbox.Options{Seed: true}, fast(map[string]string{"POBLYSH_ZOHO_CLIQ_BACKFILL_DAYS": "3"}))
	conn, tok := f.connect(t, "", adaConfig)
	hc := f.client(tok.AccessToken)
	drainAt := func(stream string, cursor json.RawMessage, now time.Time) ([]connectors.Signal, json.RawMessage) {
		var all []connectors.Signal
		for range 100 {
			p, err := f.conn.FetchPage(t.Context(), connectors.PageRequest{Connection: conn, Stream: stream, Cursor: cursor, HTTP: hc, Now: now})
			require.NoError(t, err)
			all, cursor = append(all, p.Signals...), p.Next
			if p.Done {
				return all, cursor
			}
		}
		t.Fatal("stream did not finish")
		return nil, nil
	}
	channel, mentions := "messages:"+zohosandbox.UniqueLaunch, "mentions"
	now := time.Now().Add(10 * 24 * time.Hour) // the seeded history ends 10 days before
	none, restChannel := drainAt(channel, nil, now)
	require.Empty(t, none, "nothing in the last 3 days")
	none, restMentions := drainAt(mentions, nil, now)
	require.Empty(t, none)
	bound := now.Add(-3 * 24 * time.Hour).UnixMilli()
	var cc chanCursor
	require.NoError(t, json.Unmarshal(restChannel, &cc))
	require.Equal(t, bound, cc.HW, "the window's start is the channel's mark")
	var mc mentionCursor
	require.NoError(t, json.Unmarshal(restMentions, &mc))
	require.Equal(t, bound, mc.HW, "and the mentions'")

	now = now.Add(time.Hour)
	_, msg, err := f.sb.Post(zohosandbox.MessageInput{Chat: zohosandbox.ChatLaunch, User: zohosandbox.UserMarco, Text: "posted after the first pass", Mentions: []string{zohosandbox.UserAda}, At: now})
	require.NoError(t, err)

	now = now.Add(4 * 24 * time.Hour) // the next pass comes 4 days later
	got, _ := drainAt(channel, restChannel, now)
	require.Len(t, got, 1, "a message posted after the first pass is read by the next one")
	require.Equal(t, "message.posted", got[0].Kind)
	require.Equal(t, []string{messageKey(zohosandbox.ChatLaunch, msg.ID)}, got[0].AliasKeys)
	got, _ = drainAt(mentions, restMentions, now)
	require.Len(t, got, 1, "and so is a mention in it")
	require.Equal(t, "mention.created", got[0].Kind)
	require.Contains(t, append(got[0].AliasKeys, got[0].DedupeKey), mentionKey(zohosandbox.ChatLaunch, msg.ID))
}
