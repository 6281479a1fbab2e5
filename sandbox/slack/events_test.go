package slacksandbox

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// receiver records deliveries and checks their signature independently of
// the sandbox's own code.
type receiver struct {
	mu     sync.Mutex
	secret string
	got    []received
}

type received struct {
	header http.Header
	body   []byte
	valid  bool
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	ts := r.Header.Get("X-Slack-Request-Timestamp")
	mac := hmac.New(sha256.New, []byte(rc.secret))
	mac.Write([]byte("v0:" + ts + ":"))
	mac.Write(body)
	valid := r.Header.Get("X-Slack-Signature") == "v0="+hex.EncodeToString(mac.Sum(nil))
	rc.mu.Lock()
	rc.got = append(rc.got, received{r.Header.Clone(), body, valid})
	rc.mu.Unlock()
	if !valid {
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (rc *receiver) all() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

func withReceiver(t *testing.T, opts Options) (*fixture, *receiver) {
	t.Helper()
	rc := &receiver{secret: "whsec"}
	hook := httptest.NewServer(rc)
	t.Cleanup(hook.Close)
	opts.SigningSecret, opts.EventsURL = "whsec", hook.URL
	return setup(t, opts), rc
}

// control posts to a control route and decodes the answer.
func (f *fixture) control(t *testing.T, path, body string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(f.srv.URL+path, "application/json", strings.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	return resp.StatusCode, out
}

func TestMessageDeliveryIsSigned(t *testing.T) {
	f, rc := withReceiver(t, Options{Seed: true})
	status, ans := f.control(t, "/_sandbox/slack/messages", `{"channel":"`+ChannelPress+`","user":"`+UserBob+`","text":"Embargo moved to Wednesday"}`)
	require.Equal(t, http.StatusCreated, status)
	require.Regexp(t, `^Ev[0-9A-F]{10}$`, ans["event_id"])
	require.Equal(t, []any{map[string]any{"status": float64(200)}}, ans["deliveries"])

	got := rc.all()
	require.Len(t, got, 1)
	require.True(t, got[0].valid, "X-Slack-Signature is v0=HMAC-SHA256(v0:ts:body)")
	require.Equal(t, "application/json", got[0].header.Get("Content-Type"))
	sec, err := strconv.ParseInt(got[0].header.Get("X-Slack-Request-Timestamp"), 10, 64)
	require.NoError(t, err)
	require.WithinDuration(t, time.Now(), time.Unix(sec, 0), 5*time.Second)
	require.Empty(t, got[0].header.Get("X-Slack-Retry-Num"))

	var env map[string]any
	require.NoError(t, json.Unmarshal(got[0].body, &env))
	for _, k := range []string{"token", "team_id", "context_team_id", "context_enterprise_id", "api_app_id", "event", "type", "event_id", "event_time", "authorizations", "is_ext_shared_channel", "event_context"} {
		require.Contains(t, env, k)
	}
	require.Equal(t, "event_callback", env["type"])
	require.Equal(t, ans["event_id"], env["event_id"])
	ev := env["event"].(map[string]any)
	require.Equal(t, "message", ev["type"])
	require.Equal(t, ChannelPress, ev["channel"])
	require.Equal(t, "group", ev["channel_type"], "private channels are groups in events")
	require.Equal(t, ev["ts"], ev["event_ts"])
	require.NotEmpty(t, ev["client_msg_id"])

	// The message is in the history from now on.
	hist := f.call(t, "conversations.history", f.token, map[string][]string{"channel": {ChannelPress}, "limit": {"1"}})
	require.Equal(t, []string{ev["ts"].(string)}, tsList(t, hist))
}

func TestDuplicatesCarryRetryHeaders(t *testing.T) {
	f, rc := withReceiver(t, Options{Seed: true})
	status, ans := f.control(t, "/_sandbox/slack/reactions", `{"channel":"`+ChannelGeneral+`","ts":"`+tsAt(SeedEpoch+110*60, 100)+`","user":"`+UserCarol+`","reaction":"heart","copies":3}`)
	require.Equal(t, http.StatusCreated, status)
	require.Len(t, ans["deliveries"], 3)
	got := rc.all()
	require.Len(t, got, 3)
	retries := map[string]bool{}
	for _, g := range got {
		require.True(t, g.valid)
		require.Equal(t, string(got[0].body), string(g.body), "copies carry the same event_id")
		retries[g.header.Get("X-Slack-Retry-Num")+"/"+g.header.Get("X-Slack-Retry-Reason")] = true
	}
	require.Equal(t, map[string]bool{"/": true, "1/http_timeout": true, "2/http_timeout": true}, retries)
	ev := ans["event"].(map[string]any)
	require.Equal(t, "reaction_added", ev["type"])
	require.Equal(t, UserBob, ev["item_user"])

	status, _ = f.control(t, "/_sandbox/slack/reactions", `{"channel":"`+ChannelGeneral+`","ts":"`+tsAt(SeedEpoch+110*60, 100)+`","user":"`+UserCarol+`","reaction":"heart"}`)
	require.Equal(t, http.StatusBadRequest, status, "already_reacted")
}

func TestHoldFlushAndStale(t *testing.T) {
	f, rc := withReceiver(t, Options{Seed: true})
	for _, text := range []string{"first", "second"} {
		status, ans := f.control(t, "/_sandbox/slack/messages", `{"channel":"`+ChannelGeneral+`","text":"`+text+`","hold":true}`)
		require.Equal(t, http.StatusCreated, status)
		require.Equal(t, true, ans["held"])
		require.Empty(t, ans["deliveries"])
	}
	require.Empty(t, rc.all())
	status, _ := f.control(t, "/_sandbox/flush", ``)
	require.Equal(t, http.StatusOK, status)
	got := rc.all()
	require.Len(t, got, 2)
	require.Contains(t, string(got[0].body), `"text":"second"`, "held deliveries are flushed newest first")

	status, ans := f.control(t, "/_sandbox/slack/messages", `{"channel":"`+ChannelGeneral+`","text":"old news","stale":true}`)
	require.Equal(t, http.StatusCreated, status)
	require.Len(t, ans["deliveries"], 1)
	last := rc.all()[2]
	require.True(t, last.valid, "a stale delivery is correctly signed")
	sec, _ := strconv.ParseInt(last.header.Get("X-Slack-Request-Timestamp"), 10, 64)
	require.WithinDuration(t, time.Now().Add(-10*time.Minute), time.Unix(sec, 0), 5*time.Second)
}

func TestURLVerificationAndThreads(t *testing.T) {
	f, rc := withReceiver(t, Options{})
	status, ans := f.control(t, "/_sandbox/slack/url-verification", `{"challenge":"abc123"}`)
	require.Equal(t, http.StatusCreated, status)
	require.Equal(t, "abc123", ans["challenge"])
	require.JSONEq(t, `{"token":"`+VerificationToken+`","challenge":"abc123","type":"url_verification"}`, string(rc.all()[0].body))

	parent, err := f.s.PostMessage(MessageInput{Channel: ChannelGeneral, Text: "parent"})
	require.NoError(t, err)
	var p map[string]any
	require.NoError(t, json.Unmarshal(parent.Inner, &p))
	reply, err := f.s.PostMessage(MessageInput{Channel: ChannelGeneral, User: UserBob, Text: "reply", ThreadTS: p["ts"].(string), Broadcast: true})
	require.NoError(t, err)
	var r map[string]any
	require.NoError(t, json.Unmarshal(reply.Inner, &r))
	require.Equal(t, "thread_broadcast", r["subtype"])
	require.Equal(t, p["ts"], r["thread_ts"])
	require.Equal(t, UserAlice, r["parent_user_id"])

	bot, err := f.s.PostMessage(MessageInput{Channel: ChannelGeneral, Bot: true, Text: "beep"})
	require.NoError(t, err)
	require.Contains(t, string(bot.Inner), `"subtype":"bot_message"`)

	before := len(rc.all())
	random, err := f.s.PostMessage(MessageInput{Channel: ChannelRandom, Text: "x"})
	require.NoError(t, err, "people post in channels without the bot too")
	require.False(t, random.Deliverable)
	require.Empty(t, f.s.Deliver(context.Background(), random, EventOptions{}), "the app receives no events from channels it is not in")
	status, ans = f.control(t, "/_sandbox/slack/messages", `{"channel":"`+ChannelRandom+`","text":"y"}`)
	require.Equal(t, http.StatusCreated, status)
	require.Empty(t, ans["deliveries"])
	require.Len(t, rc.all(), before)
	_, err = f.s.PostMessage(MessageInput{Channel: "C0NOPE0000", Text: "x"})
	require.ErrorIs(t, err, ErrNotFound)
	_, err = f.s.PostMessage(MessageInput{Channel: ChannelGeneral, Text: "x", ThreadTS: "1.000000"})
	require.ErrorIs(t, err, ErrNotFound)
	status, _ = f.control(t, "/_sandbox/slack/messages", `{"channel":"`+ChannelGeneral+`"}`)
	require.Equal(t, http.StatusBadRequest, status, "text is required")
}
