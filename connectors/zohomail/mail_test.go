package zohomail

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/connectors/connectortest"
	"github.com/poblysh/poblysh/connectors/press"
	zohosandbox "github.com/poblysh/poblysh/sandbox/zoho"
)

// Zoho Mail's list answer as documented: string-typed numbers and flags,
// ids as strings or as numbers beyond 2^53, HTML-escaped addresses and
// subjects, "Not Provided" for an empty Cc.
func TestNormalizeFromFixture(t *testing.T) {
	t.Parallel()
	var env envelope
	require.NoError(t, json.Unmarshal(fixture(t, "messages_view.json"), &env))
	var raws []json.RawMessage
	require.NoError(t, json.Unmarshal(env.Data, &raws))
	f := folder{ID: "7325431000000008012", Type: "Inbox", Host: "https://mail.zoho.eu", Mailbox: "7325431000000008002", Email: "ada@zylker.eu"}
	var its []item
	var sigs []connectors.Signal
	for _, raw := range raws {
		var it item
		require.NoError(t, json.Unmarshal(raw, &it))
		its = append(its, it)
		sigs = append(sigs, messageSignals(f, &it, raw)...)
	}
	require.Equal(t, "1711540357880100001", its[0].MessageID.String(), "a number beyond 2^53 keeps every digit")
	require.Equal(t, "1711540357880107920", its[1].MessageID.String())
	require.Equal(t, "Request for comment: Zylker pricing & plans", its[0].subject())
	require.Equal(t, "R&D <Team>", its[1].from().Name)
	require.Equal(t, []string{"ada@zylker.eu", "marco@zylker.eu"}, emails(its[1].to()))
	require.Empty(t, its[0].cc(), `"Not Provided" is no Cc`)
	require.Equal(t, []string{"priya@zylker.eu"}, emails(its[1].cc()))

	require.Equal(t, map[string]int{"email.received": 3, "email.thread_started": 2}, countKinds(sigs),
		"the first message names its own thread, the second has none; the third is a reply")
	for _, s := range sigs {
		require.NoError(t, connectors.ValidateSignal(Spec, s), s.DedupeKey)
	}
	first := sigs[0]
	require.Equal(t, "received:1711540357880100001", first.DedupeKey)
	require.Equal(t, "Email from jane.doe@reuters.com: Request for comment: Zylker pricing & plans", first.Payload.Title)
	require.Equal(t, "https://mail.zoho.eu/zm/#mail/folder/inbox/p/1711540357880100001", first.Payload.URL)
	require.Equal(t, connectors.Actor{ID: "jane.doe@reuters.com", Name: "Jane Doe", Email: "jane.doe@reuters.com"}, first.Payload.Actor)
	require.Equal(t, time.UnixMilli(1711540357880).UTC(), first.OccurredAt)
	require.Equal(t, "1711540357880100001", first.Payload.Attributes["thread_id"])
	require.Equal(t, "thread:1711540357880100001", sigs[1].DedupeKey)
	require.Equal(t, "1711530000000107001", sigs[len(sigs)-1].Payload.Attributes["thread_id"])
}

// catalogExamples are the Signals of the recorded Inbox and Sent listings
// (testdata/messages_view*.json) of ada@zylker.eu's mailbox: the catalog's
// Zoho Mail examples are written from them.
func catalogExamples(t testing.TB) []connectors.Signal {
	box := folder{Host: "https://mail.zoho.eu", Mailbox: "7325431000000008002", Email: "ada@zylker.eu"}
	inbox, sent := box, box
	inbox.ID, inbox.Type = "7325431000000008012", "Inbox"
	sent.ID, sent.Type, sent.Outbound = "7325431000000008014", "Sent", true
	var out []connectors.Signal
	for name, f := range map[string]folder{"messages_view.json": inbox, "messages_view_sent.json": sent} {
		var env envelope
		require.NoError(t, json.Unmarshal(connectortest.Fixture(t, name), &env))
		var raws []json.RawMessage
		require.NoError(t, json.Unmarshal(env.Data, &raws))
		for _, raw := range raws {
			var it item
			require.NoError(t, json.Unmarshal(raw, &it))
			out = append(out, messageSignals(f, &it, raw)...)
		}
	}
	return out
}

func TestHeaders(t *testing.T) {
	t.Parallel()
	var env envelope
	require.NoError(t, json.Unmarshal(fixture(t, "header.json"), &env))
	var h struct {
		HeaderContent string `json:"headerContent"`
	}
	require.NoError(t, json.Unmarshal(env.Data, &h))
	id, unsub, prec, auto := headers(h.HeaderContent)
	require.Equal(t, "Weekly <weekly.theverge.com>", id, "a folded header is unfolded")
	require.Equal(t, "<https://theverge.com/unsubscribe>", unsub)
	require.Equal(t, "bulk", prec)
	require.Empty(t, auto)
	_, _, _, auto = headers("From: Kim <kim@bloomberg.net>\r\nAuto-Submitted: auto-replied;\r\n owner-email=\"kim@bloomberg.net\"\r\nSubject: Re: x\r\n")
	require.Equal(t, `auto-replied; owner-email="kim@bloomberg.net"`, auto, "read and unfolded")
}

// A line starting with a space or a tab continues the header above it,
// whichever that is (RFC 5322 §2.2.3), and Zoho's raw headerContent keeps
// the folds. Proton Mail signs every message it sends with a
// DKIM-Signature whose h= tag lists List-Unsubscribe and
// List-Unsubscribe-Post, folded onto a line of its own
// ("\t List-Unsubscribe:List-Unsubscribe-Post;"): it is no List-Unsubscribe
// header, and the tenant's press contact writing from proton.me is press.
func TestFoldedLineIsNoHeader(t *testing.T) {
	t.Parallel()
	var env envelope
	require.NoError(t, json.Unmarshal(fixture(t, "header_proton.json"), &env))
	var h struct {
		HeaderContent string `json:"headerContent"`
	}
	require.NoError(t, json.Unmarshal(env.Data, &h))
	require.Contains(t, h.HeaderContent, "\r\n\t List-Unsubscribe:List-Unsubscribe-Post;\r\n")
	m := press.Message{From: press.Address{Name: "Sam Freelance", Email: "sam.freelance@proton.me"},
		To: []press.Address{{Name: "Ada Lovelace", Email: "ada@zylker.eu"}}, Subject: "Quick question about the layoffs", Account: "ada@zylker.eu"}
	m.ListID, m.ListUnsubscribe, m.Precedence, m.AutoSubmitted = headers(h.HeaderContent)
	require.Equal(t, press.Message{From: m.From, To: m.To, Subject: m.Subject, Account: m.Account}, m,
		"no List-Id, List-Unsubscribe, Precedence nor Auto-Submitted in the message")
	cfg, err := parseConfig(json.RawMessage(`{"press": {"addresses": ["sam.freelance@proton.me"]}}`))
	require.NoError(t, err)
	r := press.New().Detect(m, cfg.detectorConfig())
	require.True(t, r.Press, "the tenant's press contact: %v", r.Reasons)

	// A fold of a header that is not read is skipped, and ends the header
	// read above it.
	id, unsub, prec, auto := headers("List-Id: <news.example>\r\nX-Note: a\r\n Precedence: bulk\r\n\tAuto-Submitted: auto-replied\r\nSubject: x")
	require.Equal(t, []string{"<news.example>", "", "", ""}, []string{id, unsub, prec, auto})
}

// A journalist's auto-reply is not press: the headers read for a candidate
// carry Auto-Submitted.
func TestAutoReplyIsNotPress(t *testing.T) {
	t.Parallel()
	f := newFake(t, zohosandbox.Options{}, nil)
	conn, tok := f.connect(t, tenantPress)
	hc := f.client(tok.AccessToken)
	_, err := f.sb.AddMail(zohosandbox.MailInput{From: zohosandbox.Address{Name: "Kim Lee", Email: "kim.lee@bloomberg.net"},
		To: []zohosandbox.Address{{Email: "ada@zylker.eu"}}, Subject: "Re: the launch", Headers: map[string]string{"Auto-Submitted": "auto-replied"}})
	require.NoError(t, err)
	got, _ := f.drain(t, conn, hc, streamInbox, nil)
	require.Equal(t, map[string]int{"email.received": 1, "email.thread_started": 1}, countKinds(got))
}

// The seed holds a Reuters inquiry (press), a Verge newsletter (a media
// domain, but its headers say list: never press) and the tenant's own
// freelance contact (press only when the config names him). Headers are
// read for inbound candidates only.
func TestPressDetection(t *testing.T) {
	t.Parallel()
	f := newFake(t, zohosandbox.Options{Seed: true}, nil)
	conn, tok := f.connect(t, nil)
	inbox, _ := f.drain(t, conn, f.client(tok.AccessToken), streamInbox, nil)
	var pressFrom []string
	for _, s := range inbox {
		if s.Kind == "email.press_thread" {
			pressFrom = append(pressFrom, s.Payload.Attributes["correspondent"].(map[string]any)["email"].(string))
			require.NotEmpty(t, s.Payload.Attributes["matched"])
			require.Equal(t, "inbound", s.Payload.Attributes["direction"])
		}
	}
	require.Equal(t, []string{zohosandbox.ReporterAddress.Email}, pressFrom, "without the tenant's contact only Reuters")

	conn2, tok2 := f.connect(t, tenantPress)
	inbox, _ = f.drain(t, conn2, f.client(tok2.AccessToken), streamInbox, nil)
	require.Equal(t, zohosandbox.SeedInboxSignals, len(inbox))
	require.Equal(t, zohosandbox.SeedPressThreads, countKinds(inbox)["email.press_thread"])
	sent, _ := f.drain(t, conn2, f.client(tok2.AccessToken), streamSent, nil)
	require.Equal(t, map[string]int{"email.sent": 3, "email.thread_started": 2, "email.press_thread": 1}, countKinds(sent))
	for _, s := range sent {
		if s.Kind == "email.press_thread" {
			require.Equal(t, "outbound", s.Payload.Attributes["direction"])
			require.Equal(t, zohosandbox.ReporterAddress.Email, s.Payload.Actor.Email, "the journalist's side")
		}
	}
}

// Dedupe by messageId across passes: a message indexed late (older than
// the last pass's newest, inside the overlap) is found and emitted once;
// a new message in a press thread does not qualify the thread again.
func TestIncrementalOverlapAndPressOnce(t *testing.T) {
	t.Parallel()
	f := newFake(t, zohosandbox.Options{Seed: true}, map[string]string{"POBLYSH_ZOHO_MAIL_PAGE_SIZE": "4"})
	conn, tok := f.connect(t, tenantPress)
	hc := f.client(tok.AccessToken)
	all, cur := f.drain(t, conn, hc, streamInbox, nil)
	require.Len(t, all, zohosandbox.SeedInboxSignals)

	inquiry, err := f.sb.AddMail(zohosandbox.MailInput{From: zohosandbox.Address{Name: "Kim Lee", Email: "kim.lee@bloomberg.net"},
		To: []zohosandbox.Address{{Email: "ada@zylker.eu"}}, Subject: "Media request: interview on the launch"})
	require.NoError(t, err)
	got, cur := f.drain(t, conn, hc, streamInbox, cur)
	require.Equal(t, map[string]int{"email.received": 1, "email.thread_started": 1, "email.press_thread": 1}, countKinds(got))

	// A follow-up in the same thread, and a message delivered late: its
	// receivedTime is a few minutes before the newest already read.
	_, err = f.sb.AddMail(zohosandbox.MailInput{From: zohosandbox.Address{Name: "Kim Lee", Email: "kim.lee@bloomberg.net"},
		To: []zohosandbox.Address{{Email: "ada@zylker.eu"}}, Subject: "Re: Media request", ReplyTo: inquiry.ID})
	require.NoError(t, err)
	_, err = f.sb.AddMail(zohosandbox.MailInput{From: zohosandbox.Address{Email: "ops@zylker.eu"}, To: []zohosandbox.Address{{Email: "ada@zylker.eu"}},
		Subject: "Late delivery", At: time.Now().Add(-3 * time.Minute)})
	require.NoError(t, err)
	got, cur = f.drain(t, conn, hc, streamInbox, cur)
	require.Equal(t, map[string]int{"email.received": 2, "email.thread_started": 1}, countKinds(got),
		"the follow-up and the late message; the thread is press already")
	again, _ := f.drain(t, conn, hc, streamInbox, cur)
	require.Empty(t, again)
}

func TestValidateConfig(t *testing.T) {
	t.Parallel()
	c := &Connector{}
	got, err := c.ValidateConfig(json.RawMessage(`{"press": {"domains": [" NYTimes.com ", "nytimes.com"], "addresses": ["Jane@Freelance.example"]}}`))
	require.NoError(t, err)
	require.JSONEq(t, `{"press":{"domains":["nytimes.com"],"addresses":["jane@freelance.example"]}}`, string(got))
	got, err = c.ValidateConfig(nil)
	require.NoError(t, err)
	require.JSONEq(t, `{}`, string(got))
	for in, field := range map[string]string{
		`{"press": {"domains": ["gmail.com"]}}`:         "press.domains[0]",
		`{"press": {"domains": ["ft.com", "*.co.uk"]}}`: "press.domains[0]", // sorted first
		`{"press": {"addresses": ["not-an-addr"]}}`:     "press.addresses[0]",
		`{"folders": ["x"]}`:                            "config",
	} {
		_, err := c.ValidateConfig(json.RawMessage(in))
		var ce *connectors.ConfigError
		require.ErrorAs(t, err, &ce, in)
		require.Contains(t, ce.Fields, field, in)
	}
}

// An outgoing webhook delivery only nudges a poll of the URL's
// connection, and only with the connection's token.
func TestWebhookNudge(t *testing.T) {
	t.Parallel()
	env := map[string]string{"POBLYSH_ZOHO_MAIL_WEBHOOK_SECRET": "mail-hook-secret"}
	c := newProvider(t, env).Connector.(*Connector)
	conn := connectors.Connection{TenantID: testTenant, Account: connectors.Account{ID: "7325431000000008002"}}
	u, err := url.Parse(c.ConnectionWebhookURL(conn))
	require.NoError(t, err)
	require.Equal(t, "/api/v1/webhooks/zoho-mail", u.Path)
	body := []byte(`{"messageId":1711540357880100001,"folderId":"7325431000000008012","subject":"Hi","fromAddress":"a@b.example"}`)
	h := http.Header{"Content-Type": {"application/json"}}
	req := &connectors.WebhookRequest{Header: h, Body: body, Query: u.Query()}
	require.NoError(t, c.VerifyWebhook(req))
	d, err := c.ParseWebhook(req)
	require.NoError(t, err)
	require.True(t, d.Notify)
	require.Empty(t, d.Signals, "never a Signal source")
	require.Equal(t, []string{"mailbox:" + testTenant + ":7325431000000008002"}, d.RouteKeys)
	require.Equal(t, "mail:"+testTenant+":7325431000000008002:1711540357880100001", d.DeliveryID)

	hs := *req
	hs.Header = http.Header{"X-Hook-Secret": {"zoho-handshake"}}
	d, err = c.ParseWebhook(&hs)
	require.NoError(t, err)
	require.NotNil(t, d.Reply, "the handshake is acknowledged")
	require.Empty(t, d.RouteKeys)

	for name, q := range map[string]url.Values{
		"no token":     {},
		"forged token": {"token": {testTenant + ".7325431000000008002.AAAA"}},
		"other tenant": {"token": {"00000000-0b9a-4877-8665-5443322110bb" + u.Query().Get("token")[36:]}},
	} {
		r := *req
		r.Query = q
		require.ErrorIs(t, c.VerifyWebhook(&r), connectors.ErrUnauthorized, name)
	}
	none := newProvider(t, map[string]string{}).Connector.(*Connector)
	require.ErrorIs(t, none.VerifyWebhook(req), connectors.ErrUnauthorized, "no webhook secret: fail closed")
	require.Empty(t, none.ConnectionWebhookURL(conn))
}

// Mail from the account's own domain is internal, whoever it is addressed
// to: a colleague's reply to a journalist, with the account on Bcc, is not
// a press thread with the colleague as the journalist.
func TestColleagueMailIsNotPress(t *testing.T) {
	t.Parallel()
	f := newFake(t, zohosandbox.Options{}, nil)
	conn, tok := f.connect(t, tenantPress)
	hc := f.client(tok.AccessToken)
	_, err := f.sb.AddMail(zohosandbox.MailInput{From: zohosandbox.Address{Name: "Kim Park", Email: "kim@zylker.eu"},
		To: []zohosandbox.Address{{Name: "Jane Doe", Email: "jane.doe@reuters.com"}}, Subject: "Re: Request for comment: Zylker layoffs"})
	require.NoError(t, err)
	got, _ := f.drain(t, conn, hc, streamInbox, nil)
	require.Equal(t, map[string]int{"email.received": 1, "email.thread_started": 1}, countKinds(got))
}
