package gmail

import (
	"encoding/json"
	"html"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/connectors/press"
)

// rawHeaders are the headers kept in a Signal's Raw: none of them is an
// address, so Raw holds no more personal data than the payload.
var rawHeaders = []string{"Subject", "Date", "Message-ID", "In-Reply-To", "List-Id", "Precedence"}

// normalize turns one message into Signals:
//
//   - email.sent for a message with the SENT label, email.received for
//     any other, keyed msg:<key>:<id>:sent|received, at internalDate:
//     the message's own label decides, as it decides the direction and the
//     correspondent, so our reply in a conversation the user labelled is
//     email.sent in that label's stream too, under the SENT stream's key;
//   - email.thread_started, keyed thread:<key>:<threadId>:started, for
//     the message that starts a thread (Gmail names a thread after its
//     first message) and, in incremental passes, for a reply in a thread
//     whose start is not stored: built from the thread's first message
//     when a stream of the connection reads it too, else from the reply,
//     so a reply in a thread that began outside the window or the labels
//     starts it here (threadStarted);
//   - email.press_thread, keyed thread:<key>:<threadId>:press, when the
//     press detector says the message is correspondence with a journalist:
//     the thread is read (threads.get) and the Signal describes its first
//     message that qualifies, inbound or outbound, so it is the same
//     whichever message or pass found it, and fires once per thread.
//
// <key> is the mailbox's address first connected (mailboxKey: a rename
// re-authorized keeps it), the payloads name its address now.
//
// Only the correspondent's name and address are kept, with the subject, the
// snippet and the domains of the To and Cc addresses; Raw keeps ids, labels,
// the snippet and the headers that are not addresses.
func (p *pass) normalize(m *message) error {
	kind := KindReceived
	if contains(m.LabelIDs, LabelSent) {
		kind = KindSent
	}
	base := p.payload(m, nil)
	raw := scrub(m)
	at := internalDate(m)
	if at.IsZero() {
		at = p.now
	}
	msgKey := "msg:" + p.key + ":" + m.ID
	subject := subjectOf(m)
	who := base.Attributes["correspondent"].(map[string]any)["email"].(string)
	title := "Email from " + orUnknown(who) + ": " + subject
	if kind == KindSent {
		title = "Email to " + orUnknown(who) + ": " + subject
	}
	p.add(kind, at, msgKey+":"+strings.TrimPrefix(kind, "email."), title, connectors.Ref{Type: "message", ID: m.ID, Name: subject}, base, raw)
	switch {
	case m.ID == m.ThreadID:
		p.addStarted(m)
	case p.incremental:
		if err := p.threadStarted(m); err != nil {
			return err
		}
	}
	if r := p.c.detector.Detect(p.pressMessage(m), p.cfg.press()); r.Press {
		return p.pressThread(m, r)
	}
	return nil
}

// pressThread emits email.press_thread for the thread's first message that
// qualifies (m when the thread cannot be read), drafts and messages in Spam
// or Trash left out as every pass leaves them out.
func (p *pass) pressThread(m *message, r press.Result) error {
	first, res := m, r
	msgs, err := p.thread(m.ThreadID)
	switch {
	case connectors.Kind(err) == connectors.ErrNotFound:
	case err != nil:
		return err
	default:
		for _, tm := range msgs {
			if notMail(tm.LabelIDs) {
				continue
			}
			if tr := p.c.detector.Detect(p.pressMessage(tm), p.cfg.press()); tr.Press {
				first, res = tm, tr
				break
			}
		}
	}
	base := p.payload(first, &res)
	base.Attributes["matched"] = nonNil(res.Matched)
	base.Attributes["score"] = res.Score
	base.Attributes["reasons"] = nonNil(res.Reasons)
	subject := subjectOf(first)
	at := internalDate(first)
	if at.IsZero() {
		at = internalDate(m)
	}
	who := base.Attributes["correspondent"].(map[string]any)["email"].(string)
	p.add(KindPressThread, at, "thread:"+p.key+":"+first.ThreadID+":press", "Press thread with "+orUnknown(who)+": "+subject,
		connectors.Ref{Type: "thread", ID: first.ThreadID, Name: subject}, base, scrub(first))
	return nil
}

// add appends a Signal built on base.
func (p *pass) add(kind string, at time.Time, key, title string, subject connectors.Ref, base connectors.Payload, raw json.RawMessage) {
	pl := base
	pl.Title, pl.Subject = title, subject
	attrs := make(map[string]any, len(base.Attributes))
	for k, v := range base.Attributes {
		attrs[k] = v
	}
	pl.Attributes = attrs
	p.page.Signals = append(p.page.Signals, connectors.Signal{Kind: kind, OccurredAt: at, DedupeKey: key, Payload: pl, Raw: raw})
}

// payload is what every Signal of a message shares: the thread's URL, the
// actor (the sender of an inbound message, the mailbox for an outbound
// one), the mailbox as context, and the attributes. r, when set, names the
// correspondent (the journalist).
func (p *pass) payload(m *message, r *press.Result) connectors.Payload {
	pm := p.pressMessage(m)
	outbound := pm.Outbound
	corr := pm.From
	if outbound {
		corr = press.Address{}
		if len(pm.To) > 0 {
			corr = pm.To[0]
		} else if len(pm.Cc) > 0 {
			corr = pm.Cc[0]
		}
	}
	if r != nil && r.Correspondent.Email != "" {
		corr = r.Correspondent
	}
	corr.Email = strings.ToLower(corr.Email)
	attrs := map[string]any{
		"thread_id":     m.ThreadID,
		"message_id":    m.ID,
		"subject":       subjectOf(m),
		"direction":     map[bool]string{true: "outbound", false: "inbound"}[outbound],
		"correspondent": map[string]any{"name": corr.Name, "email": corr.Email},
		"snippet":       html.UnescapeString(m.Snippet),
		"to_domains":    domains(pm.To),
		"cc_domains":    domains(pm.Cc),
		"label_ids":     nonNil(m.LabelIDs),
	}
	actor := connectors.Actor{ID: p.mailbox, Name: p.conn.Account.Name, Email: p.mailbox}
	if !outbound {
		attrs["from"] = pm.From.Email
		actor = connectors.Actor{ID: strings.ToLower(pm.From.Email), Name: nameOr(pm.From), Email: strings.ToLower(pm.From.Email)}
	}
	return connectors.Payload{
		URL:        threadURL(p.mailbox, m.ThreadID),
		Actor:      actor,
		Context:    connectors.Ref{Type: "mailbox", ID: p.mailbox, Name: p.mailbox},
		Attributes: attrs,
	}
}

// pressMessage is what the press detector sees of a message: its headers,
// and the mailbox's own address, which tells colleagues from correspondents.
func (p *pass) pressMessage(m *message) press.Message {
	pm := press.HeaderMessage(m.header, contains(m.LabelIDs, LabelSent))
	pm.Account = p.mailbox
	return pm
}

func subjectOf(m *message) string {
	s := strings.TrimSpace(press.DecodeHeader(m.header("Subject")))
	if s == "" {
		return "(no subject)"
	}
	return s
}

// domains lists the distinct domains of addresses, sorted.
func domains(as []press.Address) []string {
	out := []string{}
	for _, a := range as {
		if _, d, ok := strings.Cut(strings.ToLower(a.Email), "@"); ok && d != "" && !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	slices.Sort(out)
	return out
}

// threadURL opens the thread in Gmail's web app in the mailbox's own
// account (authuser), whichever accounts the browser is signed in to.
func threadURL(mailbox, threadID string) string {
	return "https://mail.google.com/mail/?authuser=" + url.QueryEscape(mailbox) + "#all/" + threadID
}

// scrub is the message as Raw keeps it: no address headers.
func scrub(m *message) json.RawMessage {
	var hs []header
	for _, h := range m.Payload.Headers {
		for _, keep := range rawHeaders {
			if strings.EqualFold(h.Name, keep) {
				hs = append(hs, h)
			}
		}
	}
	b, _ := json.Marshal(map[string]any{
		"id": m.ID, "threadId": m.ThreadID, "labelIds": nonNil(m.LabelIDs), "snippet": m.Snippet,
		"historyId": m.HistoryID, "internalDate": m.InternalDate, "sizeEstimate": m.SizeEstimate,
		"payload": map[string]any{"mimeType": m.Payload.MimeType, "headers": hs},
	})
	return b
}

func nameOr(a press.Address) string {
	if a.Name != "" {
		return a.Name
	}
	return strings.ToLower(a.Email)
}

func orUnknown(s string) string {
	if s == "" {
		return "(unknown)"
	}
	return s
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
