package main

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"net/http"
	"strings"
	"time"

	httptransport "github.com/go-openapi/runtime/client"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/gen/client/connections"
	"github.com/poblysh/poblysh/gen/models"
	"github.com/poblysh/poblysh/sandbox"
	zohosandbox "github.com/poblysh/poblysh/sandbox/zoho"
)

// Zoho Cliq's row: a user of the EU data centre connects (authorization at
// the US accounts server; exchange, refresh and every call in the EU). The
// messages API is locked when the backfill starts: the streams wait the lock
// out (no call extends it) and then store the seed exactly. The operator
// points the organisation's bot at the connection's URL: a live message and
// a bot mention are in the feed within a second; forged bot calls are
// refused with nothing stored; a reaction (no bot event) arrives by
// polling; disconnecting revokes the refresh token in the EU.
func init() {
	zc := func(r *providerRun) *zohosandbox.Server { return r.fake.(*zohosandbox.Server) }
	addProviderCase(providerCase{
		provider: "zoho-cliq",
		fake:     sandbox.Options{Faults: []string{"short-locks"}}, // 2 s lock periods
		env: map[string]string{
			"POBLYSH_ZOHO_CLIQ_PAGE_SIZE": "3",
			"POBLYSH_ZOHO_CLIQ_PACE":      "messages=6000,mentions=6000,channels=6000,users=6000",
		},
		config:   map[string]any{"channels": []string{zohosandbox.UniqueLaunch, zohosandbox.UniquePress}},
		streams:  3, // two channels and the mentions
		backfill: zohosandbox.SeedLaunchSignals + zohosandbox.SeedPressSignals + zohosandbox.SeedMentionSignals,
		beforeConnect: func(r *providerRun) {
			zc(r).Throttle(zohosandbox.UserAda, "messages") // locked when the backfill starts
		},
		afterConnect: func(r *providerRun) {
			require.Equal(r.t, zohosandbox.UserAda, *r.conn.ExternalAccountID)
			require.Nil(r.t, r.conn.WebhookURL, "the callback's answer goes to a browser: no webhook URL")
			r.conn = r.s.connection(r.key, r.id) // the tenant's own view has it
			require.NotNil(r.t, r.conn.WebhookURL, "the bot's execution URL for this connection")
			require.True(r.t, strings.HasPrefix(*r.conn.WebhookURL, r.s.base+"/api/v1/webhooks/zoho-cliq?token="), *r.conn.WebhookURL)
			// The operator's bot set-up: execution URL, listen in both channels.
			control(r.t, "POST", r.url+"/_sandbox/zoho/cliq/bot", map[string]any{
				"execution_url": *r.conn.WebhookURL, "channels": []string{zohosandbox.UniqueLaunch, zohosandbox.UniquePress},
			})
		},
		afterBackfill: func(r *providerRun, sigs []*models.Signal) {
			locks, during := zc(r).ThrottleStats()
			require.Equal(r.t, 1, locks)
			require.LessOrEqual(r.t, during, 2, "at most one call per stream met the lock; the retries waited it out")
			require.Equal(r.t, map[string]int{"message.posted": 12, "reaction.added": 4, "mention.created": 4}, kinds(sigs))
			for _, sg := range sigs {
				require.True(r.t, strings.HasPrefix(*sg.Payload.URL, r.url+"/eu/cliq/chats/"), "links go to the EU host: %s", *sg.Payload.URL)
			}
		},
		live: func(r *providerRun) {
			start := time.Now()
			ans := control(r.t, "POST", r.url+"/_sandbox/zoho/cliq/messages", map[string]any{
				"chat": zohosandbox.ChatLaunch, "user": zohosandbox.UserPriya, "text": "Reuters published the piece",
			})
			requireDelivered(r.t, ans, 1)
			got := r.arrive(1)
			require.Less(r.t, time.Since(start), time.Second, "a live message is in the feed within a second")
			require.Equal(r.t, "message.posted", *got[0].Kind)
			require.Equal(r.t, "Reuters published the piece", *got[0].Payload.Title)
			require.Equal(r.t, "Priya Raman", deref(got[0].Payload.Actor.Name))
			require.Equal(r.t, "#launch-room", deref(got[0].Payload.Context.Name))

			start = time.Now()
			ans = control(r.t, "POST", r.url+"/_sandbox/zoho/cliq/messages", map[string]any{
				"chat": zohosandbox.ChatPress, "user": zohosandbox.UserMarco, "text": "who covers the Reuters call?", "mention_bot": true,
			})
			requireDelivered(r.t, ans, 2) // participation message_sent, mention handler
			got = r.arrive(2)
			require.Less(r.t, time.Since(start), time.Second, "the mention is in the feed within a second")
			require.Equal(r.t, map[string]int{"message.posted": 1, "mention.created": 1}, kinds(got))
		},
		missed: func(r *providerRun) int {
			// Reactions have no bot event: only a poll finds them.
			ch, ok := zc(r).Channel(zohosandbox.ChatPress)
			require.True(r.t, ok)
			control(r.t, "POST", r.url+"/_sandbox/zoho/cliq/reactions", map[string]any{
				"chat": zohosandbox.ChatPress, "message_id": ch.Messages[0].ID, "user": zohosandbox.UserMarco, "emoji": "🎯",
			})
			return 1
		},
		after: func(r *providerRun) {
			forgedBotCalls(r, zc(r))
			// Disconnecting revokes the refresh token at the user's own DC.
			_, err := r.s.client.Connections.DeleteConnection(connections.NewDeleteConnectionParams().WithID(*r.conn.ID), httptransport.BearerToken(r.key))
			require.NoError(r.t, err)
			_, _, revoked := zc(r).Accounts("eu").Stats()
			require.Equal(r.t, 1, revoked)
			_, _, usRevoked := zc(r).Accounts("us").Stats()
			require.Zero(r.t, usRevoked)
		},
	})
}

// forgedBotCalls: signed with another key, unsigned, on no connection's
// URL, or on a URL whose token was altered: 401, nothing stored.
func forgedBotCalls(r *providerRun, f *zohosandbox.Server) {
	hookURL := *r.conn.WebhookURL
	body := []byte(`{"name":"Poblysh","handler":{"type":"participation_handler"},"params":{"operation":"message_sent",` +
		`"access":{"organization":{"id":"` + zohosandbox.OrgEU + `"}},"chat":{"id":"` + zohosandbox.ChatLaunch + `","type":"channel","title":"launch-room"},` +
		`"message":{"id":"1999999999999_1","time":"1999999999999","sender":{"id":"` + zohosandbox.UserPriya + `","name":"Priya Raman"},"content":{"text":"forged"}}}}`)
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(r.t, err)
	forger := zohosandbox.New(zohosandbox.Options{Key: other})
	before := r.s.count(`SELECT count(*) FROM signals`)
	for name, c := range map[string]struct{ url, sig string }{
		"another key":    {hookURL, forger.Sign(body)},
		"unsigned":       {hookURL, ""},
		"no token":       {r.s.base + "/api/v1/webhooks/zoho-cliq", f.Sign(body)},
		"another tenant": {strings.Replace(hookURL, "token=", "token=0", 1), f.Sign(body)},
	} {
		req, err := http.NewRequest(http.MethodPost, c.url, bytes.NewReader(body))
		require.NoError(r.t, err)
		req.Header.Set("Content-Type", "application/json")
		if c.sig != "" {
			req.Header.Set("X-Cliq-Signature", c.sig)
		}
		resp, err := r.s.http.Do(req)
		require.NoError(r.t, err)
		raw := readAll(resp)
		resp.Body.Close()
		require.Equal(r.t, http.StatusUnauthorized, resp.StatusCode, "%s: %s", name, raw)
	}
	require.Equal(r.t, before, r.s.count(`SELECT count(*) FROM signals`), "nothing stored")
}

// requireDelivered checks a control answer's deliveries: n, each 200.
func requireDelivered(t require.TestingT, ans map[string]any, n int) {
	ds, _ := ans["deliveries"].([]any)
	require.Len(t, ds, n, "%v", ans)
	for _, d := range ds {
		m := d.(map[string]any)
		require.EqualValues(t, http.StatusOK, m["status"], "%v", m)
	}
}
