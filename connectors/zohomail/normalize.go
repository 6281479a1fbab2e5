package zohomail

import (
	"encoding/json"
	"html"
	"net/url"
	"strings"
	"time"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/connectors/press"
	"github.com/poblysh/poblysh/connectors/zoho"
)

// item is a message of GET /api/accounts/{id}/messages/view
// (https://www.zoho.com/mail/help/api/get-emails-list.html). Nearly every
// value comes as a string ("hasInline":"false", "status":"0"), ids may come
// as strings or as numbers beyond 2^53, addresses are HTML-escaped
// ("&quot;Jane&quot;&lt;jane@x.example&gt;", comma-separated) and an empty
// Cc is the text "Not Provided". zoho.Str keeps every id digit for digit.
type item struct {
	MessageID     zoho.Str `json:"messageId"`
	ThreadID      zoho.Str `json:"threadId"`
	FolderID      zoho.Str `json:"folderId"`
	Subject       string   `json:"subject"`
	Summary       string   `json:"summary"`
	FromAddress   string   `json:"fromAddress"`
	Sender        string   `json:"sender"`
	ToAddress     string   `json:"toAddress"`
	CcAddress     string   `json:"ccAddress"`
	ReceivedTime  zoho.Str `json:"receivedTime"`
	ReceivedLower zoho.Str `json:"receivedtime"` // the search API's spelling
	SentDate      zoho.Str `json:"sentDateInGMT"`
	ThreadCount   zoho.Str `json:"threadCount"`
	HasAttachment zoho.Str `json:"hasAttachment"`
}

// received is the message's receivedTime (or, failing that, its sent date).
func (it *item) received() (time.Time, bool) {
	for _, v := range []zoho.Str{it.ReceivedTime, it.ReceivedLower, it.SentDate} {
		if t, ok := v.Millis(); ok {
			return t, true
		}
	}
	return time.Time{}, false
}

// thread is the thread id, the message's own id for a lone message.
func (it *item) thread() string {
	if t := it.ThreadID.String(); t != "" && t != "0" {
		return t
	}
	return it.MessageID.String()
}

// startsThread reports a message that begins its thread: a lone message,
// or the one whose id the thread takes (Zoho names a thread after its
// first message).
func (it *item) startsThread() bool { return it.thread() == it.MessageID.String() }

func (it *item) subject() string { return strings.TrimSpace(html.UnescapeString(it.Subject)) }

// from is the sender: fromAddress with the sender's display name.
func (it *item) from() press.Address {
	a, _ := press.ParseAddress(it.FromAddress)
	if name := strings.TrimSpace(html.UnescapeString(it.Sender)); name != "" && !strings.EqualFold(name, a.Email) {
		a.Name = name
	}
	return a
}

// to and cc parse the escaped address lists ("Not Provided" is none).
func (it *item) to() []press.Address { return press.ParseAddressList(it.ToAddress) }
func (it *item) cc() []press.Address { return press.ParseAddressList(it.CcAddress) }

func emails(as []press.Address) []string {
	out := []string{}
	for _, a := range as {
		out = append(out, a.Email)
	}
	return out
}

// folder is what a message's Signals say about where it was read.
type folder struct {
	ID       string // folder id
	Type     string // Inbox or Sent
	Host     string // Zoho Mail host of the DC
	Mailbox  string // account id
	Email    string // the account's address
	Outbound bool
}

// link opens the message in Zoho Mail's web client.
func (f folder) link(id string) string {
	if f.Host == "" {
		return ""
	}
	return f.Host + "/zm/#mail/folder/" + url.PathEscape(strings.ToLower(f.Type)) + "/p/" + url.PathEscape(id)
}

func (f folder) mailbox() connectors.Ref {
	return connectors.Ref{Type: "mailbox", ID: f.Mailbox, Name: f.Email}
}

// attrs are the attributes every email kind carries.
func attrs(it *item) map[string]any {
	return map[string]any{"thread_id": it.thread(), "message_id": it.MessageID.String(), "subject": it.subject(),
		"from": it.from().Email, "to": emails(it.to())}
}

func actor(a press.Address) connectors.Actor {
	return connectors.Actor{ID: a.Email, Name: a.Name, Email: a.Email}
}

// messageSignals normalizes one message: email.received (Inbox) or
// email.sent (Sent), and email.thread_started when it begins a thread.
func messageSignals(f folder, it *item, raw json.RawMessage) []connectors.Signal {
	at, ok := it.received()
	id := it.MessageID.String()
	if !ok || id == "" {
		return nil
	}
	subj := it.subject()
	from := it.from()
	kind, key, title := "email.received", "received:"+id, "Email from "+from.Email+": "+cmpOr(subj, "(no subject)")
	who := from
	if f.Outbound {
		kind, key = "email.sent", "sent:"+id
		title = "Email to " + strings.Join(emails(it.to()), ", ") + ": " + cmpOr(subj, "(no subject)")
		if who.Email == "" {
			who = press.Address{Email: f.Email}
		}
	}
	out := []connectors.Signal{{
		Kind: kind, OccurredAt: at, DedupeKey: key,
		Payload: connectors.Payload{
			Title: trunc(title, 200), URL: f.link(id), Actor: actor(who),
			Subject:    connectors.Ref{Type: "message", ID: id, Name: subj},
			Context:    connectors.Ref{Type: "folder", ID: f.ID, Name: f.Type},
			Attributes: attrs(it),
		},
		Raw: raw,
	}}
	if it.startsThread() {
		out = append(out, connectors.Signal{
			Kind: "email.thread_started", OccurredAt: at, DedupeKey: "thread:" + it.thread(),
			Payload: connectors.Payload{
				Title: trunc("New thread: "+cmpOr(subj, "(no subject)"), 200), URL: f.link(id), Actor: actor(who),
				Subject:    connectors.Ref{Type: "thread", ID: it.thread(), Name: subj},
				Context:    f.mailbox(),
				Attributes: attrs(it),
			},
			Raw: raw,
		})
	}
	return out
}

// pressSignal is email.press_thread for a thread the detector qualified
// (once per thread: its key is the thread's).
func pressSignal(f folder, it *item, r press.Result, raw json.RawMessage) (connectors.Signal, bool) {
	at, ok := it.received()
	if !ok || it.MessageID == "" {
		return connectors.Signal{}, false
	}
	subj := it.subject()
	a := attrs(it)
	matched := r.Matched
	if matched == nil {
		matched = []string{}
	}
	a["matched"] = matched
	a["score"] = r.Score
	a["reasons"] = r.Reasons
	// {name, email}, as the catalog says and Gmail writes it (it was the
	// address alone).
	a["correspondent"] = map[string]any{"name": r.Correspondent.Name, "email": strings.ToLower(r.Correspondent.Email)}
	a["direction"] = map[bool]string{true: "outbound", false: "inbound"}[f.Outbound]
	return connectors.Signal{
		Kind: "email.press_thread", OccurredAt: at, DedupeKey: "press:" + it.thread(),
		Payload: connectors.Payload{
			Title:      trunc("Press thread with "+r.Correspondent.Email+": "+cmpOr(subj, "(no subject)"), 200),
			URL:        f.link(it.MessageID.String()),
			Actor:      actor(r.Correspondent),
			Subject:    connectors.Ref{Type: "thread", ID: it.thread(), Name: subj},
			Context:    f.mailbox(),
			Attributes: a,
		},
		Raw: raw,
	}, true
}

// headers reads the list and Auto-Submitted headers the detector needs
// from Zoho's headerContent (raw header lines, folded or not). A line
// starting with a space or a tab continues the header above it, whichever
// that is (RFC 5322 §2.2.3): it is added to a header read here and
// otherwise skipped, never read as a header of its own. Proton Mail's
// DKIM-Signature folds a line "\t List-Unsubscribe:List-Unsubscribe-Post;"
// (its h= tag), which was read as List-Unsubscribe before 2026-12-07.
func headers(content string) (listID, unsubscribe, precedence, autoSubmitted string) {
	content = strings.ReplaceAll(content, "\r\n", "\n")
	var last *string
	for _, line := range strings.Split(content, "\n") {
		if line != "" && (line[0] == ' ' || line[0] == '\t') {
			if last != nil {
				*last += " " + strings.TrimSpace(line)
			}
			continue
		}
		last = nil
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		value = strings.TrimSpace(value)
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "list-id":
			listID, last = value, &listID
		case "list-unsubscribe":
			unsubscribe, last = value, &unsubscribe
		case "precedence":
			precedence, last = value, &precedence
		case "auto-submitted":
			autoSubmitted, last = value, &autoSubmitted
		}
	}
	return listID, unsubscribe, precedence, autoSubmitted
}
