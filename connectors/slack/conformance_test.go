package slack

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/connectors/connectortest"
	"github.com/poblysh/poblysh/sandbox"
	slacksandbox "github.com/poblysh/poblysh/sandbox/slack"
)

// okFalse is a Slack error answer: HTTP 200 with ok:false.
func okFalse(code string) sandbox.Fault {
	return sandbox.Fault{Status: http.StatusOK, Body: `{"ok":false,"error":"` + code + `"}`}
}

// slackErrorCases are the error mappings Slack's wire format needs.
func slackErrorCases() []connectortest.ErrorCase {
	missingScope := okFalse("missing_scope")
	missingScope.Body = `{"ok":false,"error":"missing_scope","needed":"channels:history","provided":"channels:read"}`
	ratelimited := okFalse("ratelimited")
	ratelimited.RetryAfter = 3
	return []connectortest.ErrorCase{
		{Name: "ok_false_invalid_auth", Fault: okFalse("invalid_auth"), Want: connectors.ErrUnauthorized},
		{Name: "ok_false_token_revoked", Fault: okFalse("token_revoked"), Want: connectors.ErrUnauthorized},
		{Name: "ok_false_missing_scope", Fault: missingScope, Want: connectors.ErrForbidden},
		{Name: "ok_false_not_in_channel", Fault: okFalse("not_in_channel"), Want: connectors.ErrForbidden},
		{Name: "ok_false_channel_not_found", Fault: okFalse("channel_not_found"), Want: connectors.ErrNotFound},
		{Name: "ok_false_invalid_cursor", Fault: okFalse("invalid_cursor"), Want: connectors.ErrCursorExpired},
		{Name: "ok_false_internal_error", Fault: okFalse("internal_error"), Want: connectors.ErrTransient},
		{Name: "ok_false_ratelimited", Fault: ratelimited, Want: connectors.ErrRateLimited, WantRetryAfter: 3 * time.Second},
		{Name: "429", Fault: sandbox.Fault{Status: 429, RetryAfter: 7}, Want: connectors.ErrRateLimited, WantRetryAfter: 7 * time.Second},
		{Name: "500", Fault: sandbox.Fault{Status: 500}, Want: connectors.ErrTransient},
		{Name: "503", Fault: sandbox.Fault{Status: 503}, Want: connectors.ErrTransient},
	}
}

// webhookCases builds signed deliveries on a throwaway sandbox sharing the
// signing secret, so they do not change the seeded history under test.
func webhookCases(t testing.TB) []connectortest.WebhookCase {
	hooks := slacksandbox.New(slacksandbox.Options{})
	req := func(ev *slacksandbox.Event) *connectors.WebhookRequest {
		d := hooks.Delivery(ev, time.Now())
		return &connectors.WebhookRequest{Header: d.Header, Body: d.Body, Now: time.Now()}
	}
	post := func(in slacksandbox.MessageInput) (*slacksandbox.Event, string) {
		ev, err := hooks.PostMessage(in)
		require.NoError(t, err)
		var m struct {
			TS string `json:"ts"`
		}
		require.NoError(t, json.Unmarshal(ev.Inner, &m))
		return ev, m.TS
	}
	msg, ts := post(slacksandbox.MessageInput{Channel: slacksandbox.ChannelGeneral, User: slacksandbox.UserBob, Text: "The Verge piece is live!"})
	reply, _ := post(slacksandbox.MessageInput{Channel: slacksandbox.ChannelGeneral, User: slacksandbox.UserCarol, Text: "Sharing it now", ThreadTS: ts})
	bot, _ := post(slacksandbox.MessageInput{Channel: slacksandbox.ChannelGeneral, Bot: true, Text: "Deploy finished"})
	reaction, err := hooks.AddReaction(slacksandbox.ReactionInput{Channel: slacksandbox.ChannelGeneral, TS: ts, User: slacksandbox.UserAlice, Reaction: "tada"})
	require.NoError(t, err)
	return []connectortest.WebhookCase{
		{Name: "message", Request: req(msg), WantKinds: []string{"message.posted"}},
		{Name: "thread_reply", Request: req(reply), WantKinds: []string{"message.posted"}},
		{Name: "reaction_added", Request: req(reaction), WantKinds: []string{"reaction.added"}},
		{Name: "url_verification", Request: req(hooks.URLVerification("3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P")), WantReply: true},
		{Name: "bot_message_ignored", Request: req(bot)},
	}
}

// The suite paces calls with the real policy (50/min, burst 5): page sizes
// are chosen so every stream needs several pages without long waits.
func TestConformance(t *testing.T) {
	t.Parallel()
	connectortest.Run(t, func(t *testing.T) *connectortest.Env { return conformanceEnv(t) })
}

// conformanceEnv is the connector against a fresh seeded sandbox (the
// fuzz targets share it).
func conformanceEnv(t testing.TB) *connectortest.Env {
	f := newFake(t, slacksandbox.Options{Seed: true}, map[string]string{"POBLYSH_SLACK_PAGE_SIZE": "6"})
	conn, tok := f.connect(t, slacksandbox.ChannelGeneral, slacksandbox.ChannelPress)
	env := f.sb.Env(f.srv.URL)
	env["POBLYSH_SLACK_WEBHOOK_SECRET"] = "not-the-signing-secret"
	wrong := newProvider(t, env)
	env["POBLYSH_SLACK_WEBHOOK_SECRET"] = ""
	none := newProvider(t, env)
	expected := slacksandbox.ExpectedSignals()
	return &connectortest.Env{
		Provider:    f.provider,
		Connection:  conn,
		AccessToken: tok.AccessToken,
		Expected: map[string]int{
			"history:" + slacksandbox.ChannelGeneral: expected["history:"+slacksandbox.ChannelGeneral],
			"history:" + slacksandbox.ChannelPress:   expected["history:"+slacksandbox.ChannelPress],
		},
		InjectFault: f.sb.Faults.Add,
		ErrorCases:  slackErrorCases(),
		Webhooks:    webhookCases(t),
		WrongSecret: wrong,
		NoSecret:    none,
		Examples:    historyPageSignals(t),
	}
}

// TestConformanceMemberChannels runs the suite on a connection without
// configured channels: the single "channels" stream reads every channel
// the bot is a member of.
func TestConformanceMemberChannels(t *testing.T) {
	t.Parallel()
	connectortest.Run(t, func(t *testing.T) *connectortest.Env {
		f := newFake(t, slacksandbox.Options{Seed: true}, map[string]string{"POBLYSH_SLACK_PAGE_SIZE": "8"})
		conn, tok := f.connect(t)
		env := f.sb.Env(f.srv.URL)
		env["POBLYSH_SLACK_WEBHOOK_SECRET"] = "not-the-signing-secret"
		wrong := newProvider(t, env)
		env["POBLYSH_SLACK_WEBHOOK_SECRET"] = ""
		none := newProvider(t, env)
		return &connectortest.Env{
			Provider:    f.provider,
			Connection:  conn,
			AccessToken: tok.AccessToken,
			Expected:    map[string]int{"channels": slacksandbox.ExpectedSignals()["channels"]},
			InjectFault: f.sb.Faults.Add,
			ErrorCases:  slackErrorCases(),
			Webhooks:    webhookCases(t),
			WrongSecret: wrong,
			NoSecret:    none,
			Examples:    historyPageSignals(t),
		}
	})
}
