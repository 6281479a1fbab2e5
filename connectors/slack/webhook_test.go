package slack

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
)

// Slack's documented signing example (docs.slack.dev, "Verifying requests
// from Slack").
const (
	docSecret    = "8f742231b10e8888abcd99yyyzzz85a5"
	docTimestamp = 1531420618
	docBody      = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
	docSignature = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
)

func signed(secret string, body []byte, at time.Time) *connectors.WebhookRequest {
	ts := strconv.FormatInt(at.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("v0:" + ts + ":"))
	mac.Write(body)
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("X-Slack-Request-Timestamp", ts)
	h.Set("X-Slack-Signature", "v0="+hex.EncodeToString(mac.Sum(nil)))
	return &connectors.WebhookRequest{Header: h, Body: body, Now: at}
}

func TestVerifySignature(t *testing.T) {
	docAt := time.Unix(docTimestamp, 0)
	docReq := func(now time.Time) *connectors.WebhookRequest {
		h := http.Header{}
		h.Set("X-Slack-Request-Timestamp", strconv.Itoa(docTimestamp))
		h.Set("X-Slack-Signature", docSignature)
		return &connectors.WebhookRequest{Header: h, Body: []byte(docBody), Now: now}
	}
	body := fixture(t, "events/message.json")
	now := time.Now()
	tests := []struct {
		name   string
		secret string
		req    *connectors.WebhookRequest
		ok     bool
	}{
		{"slack documented example", docSecret, docReq(docAt), true},
		{"documented example 4m59s later", docSecret, docReq(docAt.Add(4*time.Minute + 59*time.Second)), true},
		{"stale timestamp rejected", docSecret, docReq(docAt.Add(5*time.Minute + time.Second)), false},
		{"timestamp from the future rejected", docSecret, docReq(docAt.Add(-6 * time.Minute)), false},
		{"wrong secret", "another-secret", docReq(docAt), false},
		{"no secret fails closed", "", docReq(docAt), false},
		{"event signed now", "s3cret", signed("s3cret", body, now), true},
		{"event signed ten minutes ago", "s3cret", func() *connectors.WebhookRequest {
			r := signed("s3cret", body, now.Add(-10*time.Minute))
			r.Now = now
			return r
		}(), false},
		{"tampered body", "s3cret", func() *connectors.WebhookRequest {
			r := signed("s3cret", body, now)
			r.Body = bytes.Replace(body, []byte("Verge"), []byte("Vergé"), 1)
			return r
		}(), false},
		{"missing signature", "s3cret", func() *connectors.WebhookRequest {
			r := signed("s3cret", body, now)
			r.Header.Del("X-Slack-Signature")
			return r
		}(), false},
		{"missing timestamp", "s3cret", func() *connectors.WebhookRequest {
			r := signed("s3cret", body, now)
			r.Header.Del("X-Slack-Request-Timestamp")
			return r
		}(), false},
		{"unknown signature version", "s3cret", func() *connectors.WebhookRequest {
			r := signed("s3cret", body, now)
			r.Header.Set("X-Slack-Signature", "v1="+r.Header.Get("X-Slack-Signature")[3:])
			return r
		}(), false},
		{"non-hex signature", "s3cret", func() *connectors.WebhookRequest {
			r := signed("s3cret", body, now)
			r.Header.Set("X-Slack-Signature", "v0=not-hex")
			return r
		}(), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := verifySignature(tc.secret, tc.req)
			if tc.ok {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, connectors.ErrUnauthorized)
			require.NotContains(t, err.Error(), tc.secret+"x", "errors never carry the secret")
		})
	}
}

func TestVerifyWebhookUsesConfiguredSecret(t *testing.T) {
	body := fixture(t, "events/reaction_added.json")
	withSecret := newProvider(t, map[string]string{"POBLYSH_SLACK_WEBHOOK_SECRET": "signing"}).Connector.(connectors.WebhookReceiver)
	without := newProvider(t, map[string]string{}).Connector.(connectors.WebhookReceiver)
	req := signed("signing", body, time.Now())
	require.NoError(t, withSecret.VerifyWebhook(req))
	require.ErrorIs(t, without.VerifyWebhook(req), connectors.ErrUnauthorized)
}

func TestParseWebhookEnvelopes(t *testing.T) {
	tests := []struct {
		file      string
		event     string
		delivery  string
		routeKeys []string
		kinds     []string
		reply     string
	}{
		{"url_verification.json", "url_verification", "url_verification:3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P", nil, nil,
			`{"challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}`},
		// News about the install itself reaches every connection of it.
		{"app_rate_limited.json", "app_rate_limited", "app_rate_limited:T024BE7LD:1767273060", []string{"app:T024BE7LD"}, nil, ""},
		// The app was removed or its tokens revoked: Slack's examples name
		// the workspace in team_id and carry no authorizations.
		{"app_uninstalled.json", "app_uninstalled", "Ev08UNINST1", []string{"app:T024BE7LD"}, nil, ""},
		{"tokens_revoked.json", "tokens_revoked", "Ev08REVOKE1", []string{"app:T024BE7LD"}, nil, ""},
		{"app_uninstalled_grid.json", "app_uninstalled", "Ev08UNINST2", []string{"app:T08GLOBHQ1", "app:E08GLOBEX1"}, nil, ""},
		// Channel events route by their channel (connections that proved
		// the bot is in it) and by the install they were delivered for
		// (connections reading every channel of the install).
		{"app_mention.json", "app_mention", "Ev08MFMKHJ", []string{"team:T024BE7LD", "channel:C061EG9SL"}, nil, ""},
		{"message.json", "message", "Ev08MFMKH6", []string{"team:T024BE7LD", "channel:C061EG9SL"}, []string{kindMessage}, ""},
		{"reaction_added.json", "reaction_added", "Ev08MFMKHH", []string{"channel:C061EG9SL"}, []string{kindReaction}, ""},
		{"message_bot_message.json", "message", "Ev08MFMKHB", []string{"team:T024BE7LD", "channel:C061EG9SL"}, nil, ""},
		// An org-wide install: team_id is the workspace the event happened
		// in, the authorization names the org's install.
		{"message_org_install.json", "message", "Ev08GLOBX01", []string{"enterprise:E08GLOBEX1", "channel:C08HQNEWS1"}, []string{kindMessage}, ""},
		// A bot may no longer read a channel: the connections that route
		// the channel check their access at once (and nobody else).
		{"channel_left.json", "channel_left", "Ev08LEFT001", []string{"channel:C061EG9SL"}, nil, ""},
		{"group_left.json", "group_left", "Ev08LEFT002", []string{"channel:G024BE91L"}, nil, ""},
		{"channel_unshared.json", "channel_unshared", "Ev08UNSHARE1", []string{"channel:C061EG9SL"}, nil, ""},
		{"message_channel_leave.json", "message", "Ev08LEAVE01", []string{"channel:C061EG9SL"}, nil, ""},
		// A legacy private channel was shared and has a new id: the
		// connections that configured it (by the old id) and those that
		// read every channel of the install sync at once.
		{"channel_id_changed.json", "channel_id_changed", "Ev08IDCHNG01", []string{"team:T024BE7LD", "channel:G012Y48650T"}, nil, ""},
		// An org-wide install lost workspaces of its org, or was given
		// some: its connection lists its workspaces and checks its
		// channels (Slack publishes the events in two shapes).
		{"team_access_revoked.json", "team_access_revoked", "Ev08REVTEAM1", []string{"app:E08GLOBEX1"}, nil, ""},
		{"team_access_revoked_nested.json", "team_access_revoked", "Ev08REVTEAM2", []string{"app:E08GLOBEX1"}, nil, ""},
		{"team_access_granted.json", "team_access_granted", "Ev08GRANTTEAM1", []string{"app:E08GLOBEX1"}, nil, ""},
		{"team_access_granted_nested.json", "team_access_granted", "Ev08GRANTTEAM2", []string{"app:E08GLOBEX1"}, nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			d, err := parseDelivery(fixture(t, "events/"+tc.file))
			require.NoError(t, err)
			require.Equal(t, tc.event, d.Event)
			require.Equal(t, tc.delivery, d.DeliveryID)
			require.Equal(t, tc.routeKeys, d.RouteKeys)
			// app_rate_limited: Slack dropped events; app_uninstalled and
			// tokens_revoked: the grant may be gone. The install's
			// connections sync at once.
			// channel_left, group_left, channel_unshared and someone's
			// channel_leave: a channel's proof may no longer hold.
			require.Equal(t, tc.event == "app_rate_limited" || tc.event == "app_uninstalled" || tc.event == "tokens_revoked" ||
				accessEvents[tc.event] || tc.delivery == "Ev08LEAVE01" || teamAccessEvents[tc.event] || tc.event == "channel_id_changed", d.Notify)
			require.Empty(t, d.Retract)
			var kinds []string
			for _, s := range d.Signals {
				kinds = append(kinds, s.Kind)
			}
			require.Equal(t, tc.kinds, kinds)
			if tc.reply == "" {
				require.Nil(t, d.Reply)
				return
			}
			require.NotNil(t, d.Reply)
			require.Equal(t, http.StatusOK, d.Reply.Status)
			require.Equal(t, "application/json", d.Reply.ContentType)
			require.JSONEq(t, tc.reply, string(d.Reply.Body))
		})
	}
}

// TestParseWebhookInstallKey: the install key comes from the
// authorization, then from team_id for envelopes without one.
func TestParseWebhookInstallKey(t *testing.T) {
	envelope := func(auth string) []byte {
		return []byte(`{"type":"event_callback","team_id":"T08GLOBEU1","enterprise_id":"E08GLOBEX1","event_id":"Ev1","event_time":1767272700,` +
			`"event":{"type":"channel_created","channel":{"id":"C09NEW0001","name":"launch"}}` + auth + `}`)
	}
	tests := map[string]struct {
		body []byte
		want []string
	}{
		"workspace install inside an org": {envelope(`,"authorizations":[{"enterprise_id":"E08GLOBEX1","team_id":"T08GLOBEU1","user_id":"U08BOTEU01","is_bot":true,"is_enterprise_install":false}]`), []string{"team:T08GLOBEU1"}},
		"org-wide install":                {envelope(`,"authorizations":[{"enterprise_id":"E08GLOBEX1","team_id":"T08GLOBEU1","user_id":"W08GLOBBOT","is_bot":true,"is_enterprise_install":true}]`), []string{"enterprise:E08GLOBEX1"}},
		"no authorizations":               {envelope(``), []string{"team:T08GLOBEU1"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			d, err := parseDelivery(tc.body)
			require.NoError(t, err)
			require.Equal(t, tc.want, d.RouteKeys, "an event about a channel object routes by the install only")
			require.Empty(t, d.Signals)
		})
	}
	// Slack's documented app_rate_limited names the workspace only, a Grid
	// workspace too: an org's connection hears of it by the workspaces it
	// proved (TestOrgInstallHearsOfItsWorkspaces).
	d, err := parseDelivery([]byte(`{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","type":"app_rate_limited","team_id":"T08GLOBHQ1","minute_rate_limited":1767273120,"api_app_id":"A0123ABCD4E"}`))
	require.NoError(t, err)
	require.Equal(t, []string{"app:T08GLOBHQ1"}, d.RouteKeys)
}

func TestParseWebhookRejectsGarbage(t *testing.T) {
	for _, body := range []string{`not json`, `{"type":"event_callback","team_id":"T1"}`, `{"type":"url_verification"}`} {
		_, err := parseDelivery([]byte(body))
		require.ErrorIs(t, err, connectors.ErrInvalidConfig, body)
	}
	d, err := parseDelivery([]byte(`{"type":"something_new","team_id":"T1"}`))
	require.NoError(t, err, "unknown payload types are acknowledged and ignored")
	require.Empty(t, d.Signals)
	require.Regexp(t, `^unknown:[0-9a-f]{24}$`, d.DeliveryID)
}

// TestParseWebhookRaw checks Raw is the inner event exactly as Slack sent it.
func TestParseWebhookRaw(t *testing.T) {
	body := fixture(t, "events/message.json")
	d, err := parseDelivery(body)
	require.NoError(t, err)
	require.Len(t, d.Signals, 1)
	var env struct {
		Event json.RawMessage `json:"event"`
	}
	require.NoError(t, json.Unmarshal(body, &env))
	require.JSONEq(t, string(env.Event), string(d.Signals[0].Raw))
}

// TestParseWebhookMessageDeleted: a deleted message, or a thread parent
// replaced by a tombstone, retracts its message.posted Signal and yields
// none.
func TestParseWebhookMessageDeleted(t *testing.T) {
	d, err := parseDelivery(fixture(t, "events/message_deleted.json"))
	require.NoError(t, err)
	require.Empty(t, d.Signals)
	require.Equal(t, []string{"msg:C061EG9SL:1767272460.000300"}, d.Retract)
	require.Equal(t, []string{"team:T024BE7LD", "channel:C061EG9SL"}, d.RouteKeys)
	require.False(t, d.Notify)

	d, err = parseDelivery(fixture(t, "events/message_changed.json"))
	require.NoError(t, err)
	require.Empty(t, d.Retract, "an edit retracts nothing")

	// A thread parent with replies becomes a tombstone: a deletion too.
	d, err = parseDelivery(fixture(t, "events/message_changed_tombstone.json"))
	require.NoError(t, err)
	require.Empty(t, d.Signals)
	require.Equal(t, []string{"msg:C061EG9SL:1767272400.000200"}, d.Retract)
	require.Equal(t, []string{"team:T024BE7LD", "channel:C061EG9SL"}, d.RouteKeys)
}

// TestParseWebhookDirectConversations: the connector reads channels only,
// so an event in a DM or group DM with the bot yields no Signal and
// retracts nothing, even when it routes to a connection reading every
// channel of the install (by team:<id>). A reaction's conversation is in
// item.channel_type (Slack's documented reaction_added); without a
// channel type a DM is known by its D… id.
func TestParseWebhookDirectConversations(t *testing.T) {
	envelope := func(event string) []byte {
		return []byte(`{"token":"XXYYZZ","team_id":"T123ABC456","api_app_id":"A123ABC456","event":` + event + `,` +
			`"type":"event_callback","authorizations":[{"team_id":"T123ABC456","user_id":"U0BOT","is_bot":true,"is_enterprise_install":false}],` +
			`"event_id":"Ev123ABC456","event_time":1360782804}`)
	}
	reaction := func(channel, channelType string) []byte {
		item := `"type":"message","channel":"` + channel + `","ts":"1360782400.498405"`
		if channelType != "" {
			item += `,"channel_type":"` + channelType + `"`
		}
		return envelope(`{"type":"reaction_added","user":"U123ABC456","reaction":"thumbsup","item_user":"U222222222","item":{` + item + `},"event_ts":"1360782804.083113"}`)
	}
	message := func(channel, channelType, extra string) []byte {
		ev := `{"type":"message","user":"U123ABC456","text":"the deck, please","ts":"1360782400.498405","channel":"` + channel + `"` + extra
		if channelType != "" {
			ev += `,"channel_type":"` + channelType + `"`
		}
		return envelope(ev + `}`)
	}
	deleted := `,"subtype":"message_deleted","deleted_ts":"1360782300.000100","hidden":true`
	every := connectors.Connection{Account: connectors.Account{ID: "T123ABC456"}}
	keys, err := (&Connector{}).RouteKeys(every)
	require.NoError(t, err)
	require.Contains(t, keys, "team:T123ABC456", "a connection without configured channels routes the install")

	for name, tc := range map[string]struct {
		body   []byte
		direct bool
	}{
		"reaction in a DM (documented)":           {reaction("D123ABC456", "im"), true},
		"reaction in a group DM":                  {reaction("G123ABC456", "mpim"), true},
		"reaction in a DM without channel_type":   {reaction("D123ABC456", ""), true},
		"reaction in a channel (documented)":      {reaction("C123ABC456", "channel"), false},
		"reaction in a private channel":           {reaction("G123ABC457", "group"), false},
		"reaction in a channel without type":      {reaction("C123ABC456", ""), false},
		"message in a DM without channel_type":    {message("D123ABC456", "", ""), true},
		"message in a group DM":                   {message("C123ABC458", "mpim", ""), true},
		"message in the app's home":               {message("D123ABC456", "app_home", ""), true},
		"message deleted in a DM":                 {message("D123ABC456", "im", deleted), true},
		"message in a channel":                    {message("C123ABC456", "channel", ""), false},
		"message deleted in a channel":            {message("C123ABC456", "channel", deleted), false},
		"message in a channel without a type":     {message("C123ABC456", "", ""), false},
		"message in a private channel (G… group)": {message("G123ABC457", "group", ""), false},
	} {
		t.Run(name, func(t *testing.T) {
			d, err := parseDelivery(tc.body)
			require.NoError(t, err)
			if strings.Contains(name, "reaction") {
				// By its channel only: a connection reading every
				// channel routes those its token lists.
				require.Len(t, d.RouteKeys, 1)
				require.True(t, strings.HasPrefix(d.RouteKeys[0], "channel:"), "%v", d.RouteKeys)
			} else {
				require.Contains(t, d.RouteKeys, "team:T123ABC456")
			}
			require.False(t, d.Notify)
			if tc.direct {
				require.Empty(t, d.Signals, "a DM's event stores nothing")
				require.Empty(t, d.Retract, "a DM's deletion retracts nothing")
				return
			}
			if len(d.Retract) == 0 {
				require.Len(t, d.Signals, 1, "a channel's event is a Signal")
			} else {
				require.Equal(t, []string{"msg:C123ABC456:1360782300.000100"}, d.Retract)
			}
		})
	}
}

// TestNoSigningSecretRefusesTheEmptyKey: with no signing secret
// configured, a delivery signed with the empty key (what a forger who
// knows no secret is set would send) is refused: the check fails closed
// on the missing secret, not only on a signature that does not match.
func TestNoSigningSecretRefusesTheEmptyKey(t *testing.T) {
	t.Parallel()
	body := fixture(t, "events/message.json")
	require.ErrorIs(t, verifySignature("", signed("", body, time.Now())), connectors.ErrUnauthorized)
}
