package gmail_test

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/sandbox"
	gmailsandbox "github.com/poblysh/poblysh/sandbox/gmail"
)

func keys(sigs []connectors.Signal) map[string]string {
	out := map[string]string{}
	for _, s := range sigs {
		out[s.DedupeKey] = s.Kind
	}
	return out
}

func find(t *testing.T, sigs []connectors.Signal, key string) connectors.Signal {
	t.Helper()
	for _, s := range sigs {
		if s.DedupeKey == key {
			return s
		}
	}
	t.Fatalf("no Signal %s in %v", key, keys(sigs))
	return connectors.Signal{}
}

const me = "ada@example.com"

func TestBackfillByLabelWithinTheWindow(t *testing.T) {
	h := newHarness(t, gmailsandbox.Options{Seed: true, PageSize: 2}, `{}`, nil)
	inbox, _ := h.drain(t, "label:INBOX", nil)
	c, i, n := gmailsandbox.ConferenceID, gmailsandbox.InquiryID, gmailsandbox.NewsletterID
	require.Equal(t, map[string]string{
		"msg:" + me + ":" + c + ":received":   "email.received",
		"thread:" + me + ":" + c + ":started": "email.thread_started",
		"msg:" + me + ":" + i + ":received":   "email.received",
		"thread:" + me + ":" + i + ":started": "email.thread_started",
		"thread:" + me + ":" + i + ":press":   "email.press_thread",
		"msg:" + me + ":" + n + ":received":   "email.received",
		"thread:" + me + ":" + n + ":started": "email.thread_started",
	}, keys(inbox), "30 days of INBOX: not the 45-day-old recap, not the receipt under another label; the media newsletter is list mail, not press")

	sent, _ := h.drain(t, "label:SENT", nil)
	r, e := gmailsandbox.ReplyID, gmailsandbox.EmbargoID
	require.Equal(t, map[string]string{
		"msg:" + me + ":" + r + ":sent":       "email.sent",
		"thread:" + me + ":" + i + ":press":   "email.press_thread",
		"msg:" + me + ":" + e + ":sent":       "email.sent",
		"thread:" + me + ":" + e + ":started": "email.thread_started",
	}, keys(sent), "the reply is not a thread start; it qualifies as press too, under the thread's one key")

	// The press Signal is the same whichever stream found it: the thread's
	// first qualifying message, the inbound inquiry.
	fromInbox, fromSent := find(t, inbox, "thread:"+me+":"+i+":press"), find(t, sent, "thread:"+me+":"+i+":press")
	fromInbox.Raw, fromSent.Raw = nil, nil
	require.Equal(t, fromInbox, fromSent)
	p := fromInbox.Payload
	require.Equal(t, "Press thread with sam.reporter@reuters.com: Request for comment on the Northwind launch", p.Title)
	require.Equal(t, "https://mail.google.com/mail/?authuser=ada%40example.com#all/"+i, p.URL)
	require.Equal(t, connectors.Actor{ID: "sam.reporter@reuters.com", Name: "Sam Reporter", Email: "sam.reporter@reuters.com"}, p.Actor)
	require.Equal(t, map[string]any{"name": "Sam Reporter", "email": "sam.reporter@reuters.com"}, p.Attributes["correspondent"])
	require.Equal(t, []string{"reuters.com"}, p.Attributes["matched"])
	require.Equal(t, 1.0, p.Attributes["score"])
	require.Contains(t, p.Attributes["reasons"], "media domain reuters.com (Reuters)")
	require.Equal(t, "I'm writing a story on the Northwind launch and would welcome a comment by 5pm.", p.Attributes["snippet"], "HTML entities of the snippet are decoded")

	// Minimum personal data: the correspondent, the subject, the snippet,
	// and recipient domains; no other address anywhere, Raw included.
	out := find(t, sent, "msg:"+me+":"+e+":sent")
	require.Equal(t, "Email to jo@northwind-pr.example: Launch timeline for Tuesday", out.Payload.Title)
	require.Equal(t, "outbound", out.Payload.Attributes["direction"])
	require.Equal(t, []string{"northwind-pr.example"}, out.Payload.Attributes["to_domains"])
	require.Equal(t, []string{"example.com"}, out.Payload.Attributes["cc_domains"])
	require.NotContains(t, out.Payload.Attributes, "from")
	body, err := json.Marshal(out.Payload)
	require.NoError(t, err)
	require.NotContains(t, string(body), "press@example.com", "a Cc address is not stored")
	for _, s := range append(inbox, sent...) {
		require.NotContains(t, string(s.Raw), `"From"`)
		require.NotContains(t, string(s.Raw), `"To"`)
		for _, addr := range []string{me, "sam.reporter@", "jo@", "press@example.com", "newsletter@", "events@"} {
			require.NotContains(t, string(s.Raw), addr, "Raw holds ids, labels, snippet and non-address headers")
		}
	}
}

// incremental is a harness whose INBOX and SENT streams rest after their
// backfill.
type incremental struct {
	*harness
	cursors map[string]json.RawMessage
}

func newIncremental(t *testing.T, config string) *incremental {
	h := newHarness(t, gmailsandbox.Options{Seed: true}, config, nil)
	i := &incremental{harness: h, cursors: map[string]json.RawMessage{}}
	ss, err := h.prov.Connector.(connectors.Syncer).Streams(h.conn)
	require.NoError(t, err)
	for _, s := range ss {
		_, i.cursors[s] = h.drain(t, s, nil)
	}
	return i
}

func (i *incremental) sync(t *testing.T, stream string) []connectors.Signal {
	t.Helper()
	sigs, cur := i.drain(t, stream, i.cursors[stream])
	i.cursors[stream] = cur
	return sigs
}

var now0 = sandbox.DeliveryOptions{}

func TestNewThreadsRepliesAndPress(t *testing.T) {
	i := newIncremental(t, `{}`)
	ctx := context.Background()
	// A new thread from a partner: received and started.
	m, _, err := i.sb.AddMessage(ctx, gmailsandbox.MessageInput{From: "Pat <pat@partner.example>", To: me, Subject: "Co-marketing?"}, now0)
	require.NoError(t, err)
	require.Equal(t, map[string]string{
		"msg:" + me + ":" + m.ID + ":received":   "email.received",
		"thread:" + me + ":" + m.ID + ":started": "email.thread_started",
	}, keys(i.sync(t, "label:INBOX")))
	require.Empty(t, i.sync(t, "label:INBOX"), "nothing new: nothing")

	// A reply in a thread the connection has: received (without a memory
	// of the stored start, the start is derived again from the thread's
	// first message: the same Signal, under the same key).
	reply, _, err := i.sb.AddMessage(ctx, gmailsandbox.MessageInput{ThreadID: m.ID, From: "Pat <pat@partner.example>", To: me, Subject: "Re: Co-marketing?"}, now0)
	require.NoError(t, err)
	sigs := i.sync(t, "label:INBOX")
	got := keys(sigs)
	require.Equal(t, "email.received", got["msg:"+me+":"+reply.ID+":received"])
	require.Equal(t, m.ID, find(t, sigs, "thread:"+me+":"+m.ID+":started").Payload.Attributes["message_id"], "same key and Signal as before")

	// A journalist writes: the thread becomes a press thread once, and our
	// reply to it makes no second one.
	q, _, err := i.sb.AddMessage(ctx, gmailsandbox.MessageInput{From: "Kim Lee <kim.lee@nytimes.com>", To: me,
		Subject: "Interview request: Northwind's Q3 launch", Snippet: "Would you have 15 minutes for an interview this week?"}, now0)
	require.NoError(t, err)
	press := i.sync(t, "label:INBOX")
	p := find(t, press, "thread:"+me+":"+q.ID+":press")
	require.Equal(t, "email.press_thread", p.Kind)
	require.Equal(t, "inbound", p.Payload.Attributes["direction"])
	_, _, err = i.sb.AddMessage(ctx, gmailsandbox.MessageInput{ThreadID: q.ID, From: "Ada Lovelace <" + me + ">", To: "Kim Lee <kim.lee@nytimes.com>",
		Subject: "Re: Interview request: Northwind's Q3 launch"}, now0)
	require.NoError(t, err)
	sent := i.sync(t, "label:SENT")
	again := find(t, sent, "thread:"+me+":"+q.ID+":press")
	again.Raw, p.Raw = nil, nil
	require.Equal(t, p, again, "the same press Signal (key and payload): stored once")
}

func TestLabelAddedAfterArrival(t *testing.T) {
	label := gmailsandbox.ReceiptsLabelID
	i := newIncremental(t, `{"labels":["`+label+`"]}`)
	ctx := context.Background()
	m, _, err := i.sb.AddMessage(ctx, gmailsandbox.MessageInput{From: "Billing <billing@saas.example>", To: me, Subject: "Invoice 42"}, now0)
	require.NoError(t, err)
	require.Empty(t, i.sync(t, "label:"+label), "it arrived in INBOX only")
	_, err = i.sb.LabelMessage(ctx, "", m.ID, []string{label}, now0)
	require.NoError(t, err)
	require.Equal(t, "email.received", keys(i.sync(t, "label:"+label))["msg:"+me+":"+m.ID+":received"], "labelsAdded names the label")
}

// restedAt is a resting cursor with its at moved to when: a stream whose
// last pass ended then (zero: a cursor stored before cursors had at).
func restedAt(t *testing.T, cursor json.RawMessage, when time.Time) json.RawMessage {
	t.Helper()
	var c map[string]any
	require.NoError(t, json.Unmarshal(cursor, &c))
	require.Equal(t, []string{"at", "history_id"}, slices.Sorted(maps.Keys(c)), "at rest: %s", cursor)
	delete(c, "at")
	if !when.IsZero() {
		c["at"] = when.UnixMilli()
	}
	b, err := json.Marshal(c)
	require.NoError(t, err)
	return b
}

// TestHistoryTooOldResyncsWithoutDuplicates: history ids expire (about a
// week); history.list answers 404, which is ErrCursorExpired for a cursor
// stored before cursors said when they stood, and the resync of the window
// derives the keys already stored plus the new mail.
func TestHistoryTooOldResyncsWithoutDuplicates(t *testing.T) {
	i := newIncremental(t, `{}`)
	before, _ := i.drain(t, "label:INBOX", nil)
	m, _, err := i.sb.AddMessage(context.Background(), gmailsandbox.MessageInput{From: "pat@partner.example", To: me, Subject: "While you were away"}, now0)
	require.NoError(t, err)
	i.sb.ExpireHistory("")
	_, err = i.fetch(t, "label:INBOX", restedAt(t, i.cursors["label:INBOX"], time.Time{}))
	require.ErrorIs(t, err, connectors.ErrCursorExpired)
	after, _ := i.drain(t, "label:INBOX", nil) // what the engine runs after clearing the cursor
	ka, kb := keys(after), keys(before)
	for k := range kb {
		require.Contains(t, ka, k, "the resync derives every key stored before")
	}
	require.Len(t, ka, len(kb)+2, "plus the new message, received and started")
	require.Contains(t, ka, "msg:"+me+":"+m.ID+":received")
}

// TestHistoryTooOldResyncsFromTheCursor: history.list answers 404 for a
// cursor that stood days ago, further back than backfill_days. The same
// page backfills from where it stood (an hour before its at), not only the
// window back from now: the mail that arrived since the last pass, before
// the window, is read; mail older than the last pass is not read again; and
// the stream rests again, on a fresh history id.
func TestHistoryTooOldResyncsFromTheCursor(t *testing.T) {
	i := newIncremental(t, `{"backfill_days":2}`)
	ctx := context.Background()
	missed, _, err := i.sb.AddMessage(ctx, gmailsandbox.MessageInput{From: "Pat <pat@partner.example>", To: me, Subject: "While you were away",
		Age: 4 * 24 * time.Hour}, now0)
	require.NoError(t, err)
	older, _, err := i.sb.AddMessage(ctx, gmailsandbox.MessageInput{From: "Pat <pat@partner.example>", To: me, Subject: "Before the last pass",
		Age: 5*24*time.Hour + 2*time.Hour}, now0)
	require.NoError(t, err)
	i.sb.ExpireHistory("")

	cursor := restedAt(t, i.cursors["label:INBOX"], time.Now().Add(-5*24*time.Hour))
	page, err := i.fetch(t, "label:INBOX", cursor)
	require.NoError(t, err, "no ErrCursorExpired: the connector resyncs itself")
	require.Contains(t, keys(page.Signals), "msg:"+me+":"+missed.ID+":received", "the first page is the backfill's")
	got, rest := i.drain(t, "label:INBOX", cursor)
	require.Equal(t, map[string]string{
		"msg:" + me + ":" + missed.ID + ":received":                   "email.received",
		"thread:" + me + ":" + missed.ID + ":started":                 "email.thread_started",
		"msg:" + me + ":" + gmailsandbox.ConferenceID + ":received":   "email.received",
		"thread:" + me + ":" + gmailsandbox.ConferenceID + ":started": "email.thread_started",
		"msg:" + me + ":" + gmailsandbox.InquiryID + ":received":      "email.received",
		"thread:" + me + ":" + gmailsandbox.InquiryID + ":started":    "email.thread_started",
		"thread:" + me + ":" + gmailsandbox.InquiryID + ":press":      "email.press_thread",
		"msg:" + me + ":" + gmailsandbox.NewsletterID + ":received":   "email.received",
		"thread:" + me + ":" + gmailsandbox.NewsletterID + ":started": "email.thread_started",
	}, keys(got), "5 days and an hour back: the missed mail and the seeded mail of those days, not %s", older.ID)

	i.cursors["label:INBOX"] = restedAt(t, rest, time.Now())
	m, _, err := i.sb.AddMessage(ctx, gmailsandbox.MessageInput{From: "Pat <pat@partner.example>", To: me, Subject: "Welcome back"}, now0)
	require.NoError(t, err)
	require.Equal(t, "email.received", keys(i.sync(t, "label:INBOX"))["msg:"+me+":"+m.ID+":received"], "incremental again, from the fresh history id")
}

// TestResyncReachesBackAYearAtMost: a connection paused for longer than a
// year whose history expired reads the last 365 days again (the longest
// window a connection may ask for), not everything since it stood.
func TestResyncReachesBackAYearAtMost(t *testing.T) {
	i := newIncremental(t, `{"backfill_days":2}`)
	ctx := context.Background()
	day := 24 * time.Hour
	inYear, _, err := i.sb.AddMessage(ctx, gmailsandbox.MessageInput{From: "pat@partner.example", To: me, Subject: "Last spring", Age: 364 * day}, now0)
	require.NoError(t, err)
	beyond, _, err := i.sb.AddMessage(ctx, gmailsandbox.MessageInput{From: "pat@partner.example", To: me, Subject: "The spring before", Age: 367 * day}, now0)
	require.NoError(t, err)
	i.sb.ExpireHistory("")
	got, _ := i.drain(t, "label:INBOX", restedAt(t, i.cursors["label:INBOX"], time.Now().Add(-400*day)))
	require.Contains(t, keys(got), "msg:"+me+":"+inYear.ID+":received")
	require.NotContains(t, keys(got), "msg:"+me+":"+beyond.ID+":received")
	require.Contains(t, keys(got), "msg:"+me+":"+gmailsandbox.OldID+":received", "the 45-day-old message, outside backfill_days")
}

func TestDeletedMessagesAndBadCursors(t *testing.T) {
	i := newIncremental(t, `{}`)
	m, _, err := i.sb.AddMessage(context.Background(), gmailsandbox.MessageInput{From: "pat@partner.example", To: me, Subject: "Oops"}, now0)
	require.NoError(t, err)
	i.sb.DeleteMessage("", m.ID)
	require.Empty(t, i.sync(t, "label:INBOX"), "a message deleted before it was read is skipped")
	for _, bad := range []string{`{"history_id":"x"}`, `[1]`} {
		_, err := i.fetch(t, "label:INBOX", json.RawMessage(bad))
		require.ErrorIs(t, err, connectors.ErrCursorExpired, bad)
	}
	_, err = i.fetch(t, "history:C1", nil)
	require.ErrorIs(t, err, connectors.ErrInvalidConfig)
	var c map[string]any
	require.NoError(t, json.Unmarshal(i.cursors["label:INBOX"], &c))
	require.Equal(t, map[string]any{"history_id": c["history_id"], "at": c["at"]}, c, "at rest: the history id and when it stood")
	require.True(t, strings.Trim(c["history_id"].(string), "0123456789") == "")
	at := time.UnixMilli(int64(c["at"].(float64)))
	require.WithinDuration(t, time.Now(), at, time.Minute)
}

// TestArchivedBeforeThePass: a message arrives in INBOX and is archived
// before the next pass. history.list?labelId=INBOX returns its
// messagesAdded record, whose message labelIds are today's (no INBOX): the
// query's filter says it arrived with the label, so it is read, once, as
// the stream's (received), with the labels it has now.
func TestArchivedBeforeThePass(t *testing.T) {
	i := newIncremental(t, `{}`)
	ctx := context.Background()
	m, _, err := i.sb.AddMessage(ctx, gmailsandbox.MessageInput{From: "Pat <pat@partner.example>", To: me, Subject: "Read me later"}, now0)
	require.NoError(t, err)
	_, err = i.sb.ArchiveMessage(ctx, "", m.ID, now0)
	require.NoError(t, err)

	got := i.sync(t, "label:INBOX")
	require.Equal(t, map[string]string{
		"msg:" + me + ":" + m.ID + ":received":   "email.received",
		"thread:" + me + ":" + m.ID + ":started": "email.thread_started",
	}, keys(got), "the mail that arrived in INBOX is stored")
	rcv := find(t, got, "msg:"+me+":"+m.ID+":received")
	require.Equal(t, "inbound", rcv.Payload.Attributes["direction"])
	require.Equal(t, []string{"UNREAD"}, rcv.Payload.Attributes["label_ids"], "its labels now: archived")
	require.Empty(t, i.sync(t, "label:INBOX"), "read once: the cursor moved past it")
	require.Empty(t, i.sync(t, "label:SENT"), "not the SENT stream's")
}

// Mail from the mailbox's own domain is internal, whoever it is addressed
// to: a colleague's reply to a journalist, with the mailbox on Bcc, is not
// a press thread with the colleague as the journalist.
func TestColleagueMailIsNotPress(t *testing.T) {
	i := newIncremental(t, `{}`)
	ctx := context.Background()
	m, _, err := i.sb.AddMessage(ctx, gmailsandbox.MessageInput{From: "Kim Park <kim@example.com>", To: "Jane Doe <jane.doe@reuters.com>",
		Subject: "Re: Request for comment: Northwind layoffs"}, now0)
	require.NoError(t, err)
	got := keys(i.sync(t, "label:INBOX"))
	require.Equal(t, "email.received", got["msg:"+me+":"+m.ID+":received"])
	require.NotContains(t, got, "thread:"+me+":"+m.ID+":press")
}

// A config saved before a public suffix was refused as a press domain
// ("*.co.uk") still syncs: the stored config is not validated again (that
// would fail every pass), and the detector ignores the entry, so a
// plumber's mail is not press while the tenant's other contacts still are.
func TestStoredPublicSuffixPressDomain(t *testing.T) {
	i := newIncremental(t, `{}`)
	i.conn.Config = json.RawMessage(`{"labels":["INBOX","SENT"],"press_domains":["*.co.uk","dailytech.example"],"press_addresses":[]}`)
	ctx := context.Background()
	plumber, _, err := i.sb.AddMessage(ctx, gmailsandbox.MessageInput{From: "Sam <sam@plumber.co.uk>", To: me, Subject: "Your boiler service"}, now0)
	require.NoError(t, err)
	tech, _, err := i.sb.AddMessage(ctx, gmailsandbox.MessageInput{From: "Lee <lee@dailytech.example>", To: me, Subject: "Quick question"}, now0)
	require.NoError(t, err)
	ss, err := i.prov.Connector.(connectors.Syncer).Streams(i.conn)
	require.NoError(t, err)
	require.Equal(t, []string{"label:INBOX", "label:SENT"}, ss)
	got := keys(i.sync(t, "label:INBOX"))
	require.Equal(t, "email.received", got["msg:"+me+":"+plumber.ID+":received"])
	require.NotContains(t, got, "thread:"+me+":"+plumber.ID+":press")
	require.Equal(t, "email.press_thread", got["thread:"+me+":"+tech.ID+":press"])
}

// TestInquiryThroughOwnPressGroup: a journalist writes to the company's
// own press@ Google Group, which relays her message with its list headers
// and, her domain's DMARC policy being strict, with From rewritten to the
// group ("'Jane Doe' via Press"). The connector asks Gmail for Reply-To and
// X-Original-From, and the thread is a press thread whose correspondent is
// the journalist; the group's own headers do not make it bulk mail.
func TestInquiryThroughOwnPressGroup(t *testing.T) {
	i := newIncremental(t, `{}`)
	ctx := context.Background()
	group := gmailsandbox.MessageInput{To: "press@example.com", Subject: "Question on the layoffs",
		ListID: "<press.example.com>", Precedence: "list",
		ListUnsubscribe: "<mailto:googlegroups-manage+102938+unsubscribe@googlegroups.com>, <https://groups.google.com/a/example.com/group/press/subscribe>"}
	kept, rewritten := group, group
	kept.From = "Jane Doe <jane.doe@reuters.com>"
	rewritten.From, rewritten.OriginalFrom, rewritten.ReplyTo = "'Kim Lee' via Press <press@example.com>", "Kim Lee <kim.lee@nytimes.com>", "Kim Lee <kim.lee@nytimes.com>"
	k, _, err := i.sb.AddMessage(ctx, kept, now0)
	require.NoError(t, err)
	r, _, err := i.sb.AddMessage(ctx, rewritten, now0)
	require.NoError(t, err)
	got := i.sync(t, "label:INBOX")
	for id, who := range map[string]string{k.ID: "jane.doe@reuters.com", r.ID: "kim.lee@nytimes.com"} {
		p := find(t, got, "thread:"+me+":"+id+":press").Payload
		require.Equal(t, map[string]any{"name": map[string]string{k.ID: "Jane Doe", r.ID: "Kim Lee"}[id], "email": who}, p.Attributes["correspondent"], id)
		require.Equal(t, "Press thread with "+who+": Question on the layoffs", p.Title)
		require.Contains(t, p.Attributes["reasons"], "through the organisation's own list press.example.com: judged by its sender")
	}
	require.Contains(t, find(t, got, "thread:"+me+":"+r.ID+":press").Payload.Attributes["reasons"], "From rewritten by the list: the sender is in X-Original-From")
}

// An auto-reply (RFC 3834 Auto-Submitted) from a journalist is not press:
// the connector asks for the header and the detector reads it.
func TestAutoReplyIsNotPress(t *testing.T) {
	i := newIncremental(t, `{}`)
	m, _, err := i.sb.AddMessage(context.Background(), gmailsandbox.MessageInput{From: "Kim Lee <kim.lee@nytimes.com>", To: me,
		Subject: "Re: Northwind's Q3 launch", AutoSubmitted: "auto-replied"}, now0)
	require.NoError(t, err)
	got := keys(i.sync(t, "label:INBOX"))
	require.Equal(t, "email.received", got["msg:"+me+":"+m.ID+":received"])
	require.NotContains(t, got, "thread:"+me+":"+m.ID+":press")
}

// TestSpamAndTrashAreNotMail: history.list has no includeSpamTrash, so a
// message Gmail files into Spam (a spoofed "journalist"), or one in Trash,
// is named by the history of any other label it carries (UNREAD here; a
// CATEGORY_*, IMPORTANT or user label likewise). The backfill never lists
// it (messages.list leaves Spam and Trash out), so no pass reads it, and a
// press thread is never described by it.
func TestSpamAndTrashAreNotMail(t *testing.T) {
	i := newIncremental(t, `{"labels":["UNREAD"]}`)
	ctx := context.Background()
	spam, _, err := i.sb.AddMessage(ctx, gmailsandbox.MessageInput{From: "Kim Lee <kim.lee@nytimes.com>", To: me,
		Subject: "Interview request: urgent, reply with your password", Labels: []string{"SPAM", "UNREAD"}}, now0)
	require.NoError(t, err)
	trash, _, err := i.sb.AddMessage(ctx, gmailsandbox.MessageInput{From: "Pat <pat@partner.example>", To: me,
		Subject: "Binned unread", Labels: []string{"TRASH", "UNREAD"}}, now0)
	require.NoError(t, err)
	// A real journalist writes in the spam's thread: the press Signal is hers.
	reply, _, err := i.sb.AddMessage(ctx, gmailsandbox.MessageInput{ThreadID: spam.ID, From: "Jane Doe <jane.doe@reuters.com>", To: me,
		Subject: "Re: Interview request", Labels: []string{"INBOX", "UNREAD"}}, now0)
	require.NoError(t, err)

	got := i.sync(t, "label:UNREAD")
	require.Equal(t, map[string]string{
		"msg:" + me + ":" + reply.ID + ":received":  "email.received",
		"thread:" + me + ":" + spam.ID + ":started": "email.thread_started",
		"thread:" + me + ":" + spam.ID + ":press":   "email.press_thread",
	}, keys(got), "incremental: neither the spam nor the trashed message")
	backfill, _ := i.drain(t, "label:UNREAD", nil)
	for _, k := range []string{"msg:" + me + ":" + spam.ID + ":received", "msg:" + me + ":" + trash.ID + ":received"} {
		require.NotContains(t, keys(backfill), k, "backfill: Spam and Trash are not listed")
	}
	for name, sigs := range map[string][]connectors.Signal{"incremental": got, "backfill": backfill} {
		p := find(t, sigs, "thread:"+me+":"+spam.ID+":press").Payload
		require.Equal(t, reply.ID, p.Attributes["message_id"], name+": the thread's first qualifying message that is mail")
		require.Equal(t, "Press thread with jane.doe@reuters.com: Re: Interview request", p.Title, name)
	}
}

// TestSentMessageInAnotherStream: a user labels a conversation
// (threads.modify applies to every message of the thread), so our own
// reply carries the label. The message's SENT label makes it email.sent in
// that label's stream as in SENT's, under the same key, stored once; a
// message to ourselves (SENT and INBOX) is email.sent in both streams.
func TestSentMessageInAnotherStream(t *testing.T) {
	label := gmailsandbox.ReceiptsLabelID
	i := newIncremental(t, `{"labels":["SENT","INBOX","`+label+`"]}`)
	ctx := context.Background()
	m, _, err := i.sb.AddMessage(ctx, gmailsandbox.MessageInput{From: "Ada Lovelace <" + me + ">", To: "Jo Publicist <jo@northwind-pr.example>",
		Subject: "Launch plan", Labels: []string{"SENT", label}}, now0)
	require.NoError(t, err)
	self, _, err := i.sb.AddMessage(ctx, gmailsandbox.MessageInput{From: "Ada Lovelace <" + me + ">", To: me,
		Subject: "Note to self", Labels: []string{"SENT", "INBOX"}}, now0)
	require.NoError(t, err)

	fromLabel, fromSent := i.sync(t, "label:"+label), i.sync(t, "label:SENT")
	key := "msg:" + me + ":" + m.ID + ":sent"
	require.Equal(t, "email.sent", keys(fromLabel)[key])
	require.NotContains(t, keys(fromLabel), "msg:"+me+":"+m.ID+":received")
	a, b := find(t, fromLabel, key), find(t, fromSent, key)
	a.Raw, b.Raw = nil, nil
	require.Equal(t, b, a, "the same Signal whichever stream read it")
	require.Equal(t, "Email to jo@northwind-pr.example: Launch plan", a.Payload.Title)
	require.Equal(t, "outbound", a.Payload.Attributes["direction"])
	require.Equal(t, me, a.Payload.Actor.Email)

	inbox := keys(i.sync(t, "label:INBOX"))
	require.Equal(t, "email.sent", inbox["msg:"+me+":"+self.ID+":sent"], "mail to ourselves is mail we sent")
	require.NotContains(t, inbox, "msg:"+me+":"+self.ID+":received")
}

// A first pass bounded by backfill_days that reads nothing (a label with
// no mail in the window) still rests at the mailbox's history id, taken
// before it listed anything: mail that arrives after it is read by the
// next pass from Gmail's history, not from a window counted from that
// pass (a pass more than backfill_days later would miss it; here the
// mail is dated before that window).
func TestBackfillDaysQuietLabelKeepsItsMark(t *testing.T) {
	h := newHarness(t, gmailsandbox.Options{}, `{"backfill_days": 1}`, nil) // no seed: an empty mailbox
	sigs, cur := h.drain(t, "label:INBOX", nil)
	require.Empty(t, sigs)
	var c struct {
		HistoryID string `json:"history_id"`
		Backfill  bool   `json:"backfill"`
	}
	require.NoError(t, json.Unmarshal(cur, &c))
	require.NotEmpty(t, c.HistoryID, "the quiet first pass leaves a mark")
	require.False(t, c.Backfill)

	m, _, err := h.sb.AddMessage(context.Background(), gmailsandbox.MessageInput{From: "Pat <pat@partner.example>", To: me, Subject: "Co-marketing?",
		Age: 10 * 24 * time.Hour}, now0) // dated before a window counted from the next pass
	require.NoError(t, err)
	sigs, _ = h.drain(t, "label:INBOX", cur)
	require.Equal(t, map[string]string{
		"msg:" + me + ":" + m.ID + ":received":   "email.received",
		"thread:" + me + ":" + m.ID + ":started": "email.thread_started",
	}, keys(sigs))
}
