package zohocliq

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
	zohosandbox "github.com/poblysh/poblysh/sandbox/zoho"
)

// hookEnv is a provider configured like a deployment (public key, webhook
// secret) and a connection of the EU organisation's user.
func hookEnv(t *testing.T, extra map[string]string) (*Connector, connectors.Connection, *zohosandbox.Server) {
	t.Helper()
	sb := zohosandbox.New(zohosandbox.Options{})
	env := map[string]string{
		"POBLYSH_ZOHO_CLIQ_PUBLIC_KEY":     sb.PublicKeyPEM(),
		"POBLYSH_ZOHO_CLIQ_WEBHOOK_SECRET": "deployment-hook-secret",
	}
	for k, v := range extra {
		env[k] = v
	}
	c := newProvider(t, env).Connector.(*Connector)
	conn := connectors.Connection{ID: "conn-1", TenantID: testTenant, Config: []byte(`{"channels":["launchroom"],"track_mentions":true}`),
		Account: connectors.Account{ID: zohosandbox.UserAda, Metadata: map[string]string{"dc": "eu", metaOrgID: zohosandbox.OrgEU}}}
	return c, conn, sb
}

// signed is a bot call of body signed with the sandbox's key, posted to u.
func signed(sb *zohosandbox.Server, body []byte, u string) *connectors.WebhookRequest {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("X-Cliq-Signature", sb.Sign(body))
	q := url.Values{}
	if pu, err := url.Parse(u); err == nil {
		q = pu.Query()
	}
	return &connectors.WebhookRequest{Header: h, Body: body, Query: q, Now: time.Now()}
}

func TestBotURL(t *testing.T) {
	t.Parallel()
	c, conn, _ := hookEnv(t, nil)
	u := c.ConnectionWebhookURL(conn)
	require.Regexp(t, `^http://poblysh\.test/api/v1/webhooks/zoho-cliq\?token=`+testTenant+`\.60040386526\.[A-Za-z0-9_-]{43}$`, u)
	require.Equal(t, u, c.ConnectionWebhookURL(conn), "derived, the same every time")

	noOrg := conn
	noOrg.Account.Metadata = map[string]string{"dc": "eu"}
	require.Empty(t, c.ConnectionWebhookURL(noOrg), "without the organisation no call could be bound")
	none, _, _ := hookEnv(t, map[string]string{"POBLYSH_ZOHO_CLIQ_WEBHOOK_SECRET": ""})
	require.Empty(t, none.ConnectionWebhookURL(conn), "without a webhook secret there is no URL")
}

// A message the bot heard in a channel (participation handler,
// message_sent) is message.posted, routed to the URL's connection for
// that channel only.
func TestParticipationMessageSent(t *testing.T) {
	t.Parallel()
	c, conn, sb := hookEnv(t, nil)
	req := signed(sb, fixture(t, "bot_participation_message_sent.json"), c.ConnectionWebhookURL(conn))
	require.NoError(t, c.VerifyWebhook(req))
	d, err := c.ParseWebhook(req)
	require.NoError(t, err)
	require.Equal(t, []string{"chat:" + testTenant + ":60040386526:CT_1207124540483314854_20071845"}, d.RouteKeys)
	require.Equal(t, "participation.message_sent", d.Event)
	require.Equal(t, "cliq:"+testTenant+":60040386526:participation:message_sent:CT_1207124540483314854_20071845:1773813859592_51531973059", d.DeliveryID)
	require.Len(t, d.Signals, 1)
	s := d.Signals[0]
	require.NoError(t, connectors.ValidateSignal(Spec, s))
	require.Equal(t, "msg:CT_1207124540483314854_20071845:1773813859592_60040396507", s.DedupeKey, "the key polling gives the same message: time and sender")
	require.Equal(t, []string{"msg:CT_1207124540483314854_20071845:1773813859592_51531973059"}, s.AliasKeys, "and the id's key")
	require.Equal(t, connectors.Ref{Type: "message", ID: "1773813859592_51531973059"}, s.Payload.Subject)
	require.Equal(t, "@Ada Lovelace embargo moved to 10:00", s.Payload.Title)
	require.Equal(t, connectors.Actor{ID: "60040396507", Name: "Priya Raman"}, s.Payload.Actor)
	require.Equal(t, "#launch-room", s.Payload.Context.Name)
	require.Equal(t, "https://cliq.zoho.eu/chats/CT_1207124540483314854_20071845", s.Payload.URL)
	require.Equal(t, int64(1773813859592), s.OccurredAt.UnixMilli())
}

// The bot was mentioned: mention.created naming the bot, routed to the
// connection's mentions key (any chat, like polled mentions).
func TestMentionHandler(t *testing.T) {
	t.Parallel()
	c, conn, sb := hookEnv(t, nil)
	req := signed(sb, fixture(t, "bot_mention.json"), c.ConnectionWebhookURL(conn))
	require.NoError(t, c.VerifyWebhook(req))
	d, err := c.ParseWebhook(req)
	require.NoError(t, err)
	require.Equal(t, []string{"mentions:" + testTenant + ":60040386526"}, d.RouteKeys)
	require.Len(t, d.Signals, 1)
	s := d.Signals[0]
	require.NoError(t, connectors.ValidateSignal(Spec, s))
	require.Equal(t, "mention.created", s.Kind)
	require.Equal(t, []string{"b-2007184500000000071"}, s.Payload.Attributes["mentioned_users"])
	require.Equal(t, "Mentioned in #press-desk: @Poblysh who is covering Reuters today?", s.Payload.Title)
	require.Equal(t, "mention:CT_1796005539471668330_20071845:1773813998000_60040376665", s.DedupeKey)
	require.Equal(t, []string{"mention:CT_1796005539471668330_20071845:1773813998000_51531973070"}, s.AliasKeys)
}

// Fails closed: anything but a call signed with the configured key, on a
// connection's URL, for that connection's organisation, is refused.
func TestBotCallsFailClosed(t *testing.T) {
	t.Parallel()
	c, conn, sb := hookEnv(t, nil)
	body := fixture(t, "bot_participation_message_sent.json")
	u := c.ConnectionWebhookURL(conn)
	good := signed(sb, body, u)
	require.NoError(t, c.VerifyWebhook(good))

	unsigned := signed(sb, body, u)
	unsigned.Header.Del("X-Cliq-Signature")
	forged := signed(sb, body, u)
	forged.Header.Set("X-Cliq-Signature", "bm90IGEgc2lnbmF0dXJl")
	tampered := signed(sb, body, u)
	tampered.Body = bytes.Replace(body, []byte("embargo moved to 10:00"), []byte("embargo moved to 11:00"), 1)
	// Another organisation's call (signed: the key is the extension's),
	// replayed to this connection's URL.
	otherOrg := signed(sb, bytes.ReplaceAll(body, []byte(`"id":"20071845"`), []byte(`"id":"64396901"`)), u)
	noToken := signed(sb, body, "http://poblysh.test/api/v1/webhooks/zoho-cliq")
	wrongToken := signed(sb, body, "http://poblysh.test/api/v1/webhooks/zoho-cliq?token="+testTenant+".60040386526.AAAA")
	for name, req := range map[string]*connectors.WebhookRequest{
		"unsigned": unsigned, "forged signature": forged, "tampered body": tampered,
		"another organisation": otherOrg, "no token": noToken, "wrong token": wrongToken,
	} {
		require.ErrorIs(t, c.VerifyWebhook(req), connectors.ErrUnauthorized, name)
	}
	noKey, _, _ := hookEnv(t, map[string]string{"POBLYSH_ZOHO_CLIQ_PUBLIC_KEY": ""})
	require.ErrorIs(t, noKey.VerifyWebhook(good), connectors.ErrUnauthorized, "no public key configured")
	noSecret, _, _ := hookEnv(t, map[string]string{"POBLYSH_ZOHO_CLIQ_WEBHOOK_SECRET": ""})
	require.ErrorIs(t, noSecret.VerifyWebhook(good), connectors.ErrUnauthorized, "no webhook secret configured")
}

// The refusal of a bot call without a public key, or without a webhook
// secret, names every variable that would satisfy it: Cliq's own and the
// POBLYSH_ZOHO_ one it falls back to (connectors.Config.SettingVars),
// which does satisfy it. (It named Cliq's own only, so an operator who
// shares settings between the Zoho providers was not told of the other.)
func TestRefusalNamesEverySettingThatSatisfiesIt(t *testing.T) {
	t.Parallel()
	c, conn, sb := hookEnv(t, nil)
	body := fixture(t, "bot_participation_message_sent.json")
	good := signed(sb, body, c.ConnectionWebhookURL(conn))
	require.NoError(t, c.VerifyWebhook(good))

	noKey, _, _ := hookEnv(t, map[string]string{"POBLYSH_ZOHO_CLIQ_PUBLIC_KEY": ""})
	err := noKey.VerifyWebhook(good)
	require.ErrorIs(t, err, connectors.ErrUnauthorized)
	require.Contains(t, err.Error(), "POBLYSH_ZOHO_CLIQ_PUBLIC_KEY or POBLYSH_ZOHO_PUBLIC_KEY")
	shared, _, _ := hookEnv(t, map[string]string{"POBLYSH_ZOHO_CLIQ_PUBLIC_KEY": "", "POBLYSH_ZOHO_PUBLIC_KEY": sb.PublicKeyPEM()})
	require.NoError(t, shared.VerifyWebhook(good), "the shared variable satisfies it")

	noSecret, _, _ := hookEnv(t, map[string]string{"POBLYSH_ZOHO_CLIQ_WEBHOOK_SECRET": ""})
	err = noSecret.VerifyWebhook(good)
	require.ErrorIs(t, err, connectors.ErrUnauthorized)
	require.Contains(t, err.Error(), "POBLYSH_ZOHO_CLIQ_WEBHOOK_SECRET or POBLYSH_ZOHO_WEBHOOK_SECRET")
	shared, _, _ = hookEnv(t, map[string]string{"POBLYSH_ZOHO_CLIQ_WEBHOOK_SECRET": "", "POBLYSH_ZOHO_WEBHOOK_SECRET": "deployment-hook-secret"})
	require.NoError(t, shared.VerifyWebhook(good), "the shared variable satisfies it")
}

func TestParsePublicKeys(t *testing.T) {
	t.Parallel()
	sb := zohosandbox.New(zohosandbox.Options{})
	pemKey := sb.PublicKeyPEM()
	keys, err := parsePublicKeys(pemKey + otherKey(t))
	require.NoError(t, err)
	require.Len(t, keys, 2, "several PEM blocks")
	bare := bytes.TrimSpace([]byte(pemKey))
	bare = bytes.TrimPrefix(bare, []byte("-----BEGIN PUBLIC KEY-----"))
	bare = bytes.TrimSuffix(bare, []byte("-----END PUBLIC KEY-----"))
	keys, err = parsePublicKeys(string(bare))
	require.NoError(t, err, "the bare base64 Cliq shows")
	require.Len(t, keys, 1)
	_, err = parsePublicKeys("not a key")
	require.Error(t, err)
}

// Live Signals link to the Cliq host the call names only when it is a
// configured DC's API root, as polled ones link to the configured host:
// with POBLYSH_ZOHO_CLIQ_API_URLS set, its host is linked and Zoho's
// default for the DC (not configured any more) is not. Zoho's handler
// samples carry the organisation too ("base_url":
// "https://cliq.zoho.com/company/123456456"): the host before it is linked.
func TestLiveLinksFollowConfiguredHosts(t *testing.T) {
	t.Parallel()
	c, conn, sb := hookEnv(t, map[string]string{"POBLYSH_ZOHO_CLIQ_API_URLS": "eu=https://cliq.eu.example.test"})
	body := fixture(t, "bot_participation_message_sent.json")
	for base, want := range map[string]string{
		"https://cliq.eu.example.test":                   "https://cliq.eu.example.test/chats/CT_1207124540483314854_20071845",
		"https://cliq.eu.example.test/company/20071845":  "https://cliq.eu.example.test/chats/CT_1207124540483314854_20071845",
		"https://cliq.eu.example.test/company/20071845/": "https://cliq.eu.example.test/chats/CT_1207124540483314854_20071845",
		"https://cliq.eu.example.test/other/20071845":    "",
		"https://cliq.zoho.eu":                           "",
		"https://cliq.zoho.eu/company/20071845":          "",
	} {
		b := bytes.Replace(body, []byte(`"base_url":"https://cliq.zoho.eu"`), []byte(`"base_url":"`+base+`"`), 1)
		require.Contains(t, string(b), base)
		req := signed(sb, b, c.ConnectionWebhookURL(conn))
		require.NoError(t, c.VerifyWebhook(req))
		d, err := c.ParseWebhook(req)
		require.NoError(t, err)
		require.Len(t, d.Signals, 1)
		require.Equal(t, want, d.Signals[0].Payload.URL, base)
	}
}

// The mention handler's message as Zoho documents it, a Message Details
// object ({"time", "message": {"type", "text", "mentions"}}), without the
// id and sender the REST form carries: the text is read from the inner
// message, the id from params.access.message_id (or, without one, the
// time and the user), the sender from params.user. It yielded nothing.
// The key is the time and the sender either way (the id's is an alias).
func TestMentionHandlerMessageDetails(t *testing.T) {
	t.Parallel()
	c, conn, sb := hookEnv(t, nil)
	body := fixture(t, "bot_mention_details.json")
	for _, tc := range []struct {
		body    []byte
		id      string
		aliases []string
	}{
		{body, "1773813998000_51531973071", []string{"mention:CT_1796005539471668330_20071845:1773813998000_51531973071"}},
		{bytes.Replace(body, []byte(`"message_id":"1773813998000_51531973071",`), nil, 1), "1773813998000_60040376665", nil},
	} {
		req := signed(sb, tc.body, c.ConnectionWebhookURL(conn))
		require.NoError(t, c.VerifyWebhook(req))
		d, err := c.ParseWebhook(req)
		require.NoError(t, err)
		require.Equal(t, []string{"mentions:" + testTenant + ":60040386526"}, d.RouteKeys)
		require.Len(t, d.Signals, 1, tc.id)
		s := d.Signals[0]
		require.NoError(t, connectors.ValidateSignal(Spec, s))
		require.Equal(t, "Mentioned in #press-desk: @Poblysh can you log the Reuters call?", s.Payload.Title)
		require.Equal(t, "mention:CT_1796005539471668330_20071845:1773813998000_60040376665", s.DedupeKey)
		require.Equal(t, tc.aliases, s.AliasKeys)
		require.Equal(t, tc.id, s.Payload.Subject.ID)
		require.Equal(t, connectors.Actor{ID: "60040376665", Name: "Marco Rossi"}, s.Payload.Actor)
		require.Equal(t, int64(1773813998000), s.OccurredAt.UnixMilli())
	}
}

// A bot call whose chat has no title (Zoho's params.chat names the chat
// by id; its title is the only name a call gives) still names the Signal's
// context, by the chat's id: every context has a name (architecture §6,
// connectors.ValidateSignal); the mention's and the message's left it out.
func TestBotCallWithoutAChatTitleNamesTheChatByID(t *testing.T) {
	t.Parallel()
	c, conn, sb := hookEnv(t, nil)
	for _, name := range []string{"bot_participation_message_sent.json", "bot_mention.json"} {
		t.Run(name, func(t *testing.T) {
			var call map[string]any
			require.NoError(t, json.Unmarshal(fixture(t, name), &call))
			chat := call["params"].(map[string]any)["chat"].(map[string]any)
			delete(chat, "title")
			body, err := json.Marshal(call)
			require.NoError(t, err)
			d, err := c.ParseWebhook(signed(sb, body, c.ConnectionWebhookURL(conn)))
			require.NoError(t, err)
			require.Len(t, d.Signals, 1)
			s := d.Signals[0]
			require.Equal(t, chat["id"], s.Payload.Context.ID)
			require.Equal(t, chat["id"], s.Payload.Context.Name)
			require.NoError(t, connectors.ValidateSignal(Spec, s))
		})
	}
}
