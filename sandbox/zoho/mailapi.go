package zohosandbox

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/poblysh/poblysh/sandbox"
)

// mailRoutes mounts the Zoho Mail API the connector uses, per DC
// (https://www.zoho.com/mail/help/api/):
//
//	GET /{dc}/mail/api/accounts
//	GET /{dc}/mail/api/accounts/{acct}/folders
//	GET /{dc}/mail/api/accounts/{acct}/messages/view?folderId&start&limit&sortorder&includeto&includearchive
//	GET /{dc}/mail/api/accounts/{acct}/folders/{folder}/messages/{msg}/header
//
// Answers are {"status": {"code", "description"}, "data": …} with Zoho's
// string-typed numbers and booleans, and message and thread ids beyond 2^53
// sent as JSON numbers.
func (s *Server) mailRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /{dc}/mail/api/accounts", s.mailAPI(s.handleMailAccounts))
	mux.HandleFunc("GET /{dc}/mail/api/accounts/{acct}/folders", s.mailAPI(s.handleFolders))
	mux.HandleFunc("GET /{dc}/mail/api/accounts/{acct}/messages/view", s.mailAPI(s.handleView))
	mux.HandleFunc("GET /{dc}/mail/api/accounts/{acct}/folders/{folder}/messages/{msg}/header", s.mailAPI(s.handleHeader))
}

func (s *Server) mailAPI(h func(http.ResponseWriter, *http.Request, *User)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		u, ok := s.apiUser(w, r)
		if !ok {
			return
		}
		if !s.limits.allow(u.ZUID, "mail") {
			mailError(w, http.StatusTooManyRequests, "TOO_MANY_REQUESTS", "Too many requests")
			return
		}
		h(w, r, u)
	}
}

// mailOK writes a success answer as Zoho does: "&", "<" and ">" are not
// \u-escaped by the JSON encoder (the HTML entities are Zoho's own).
func mailOK(w http.ResponseWriter, data any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(map[string]any{"status": map[string]any{"code": 200, "description": "success"}, "data": data})
}

func mailError(w http.ResponseWriter, status int, code, desc string) {
	sandbox.WriteJSON(w, status, map[string]any{
		"status": map[string]any{"code": status, "description": desc},
		"data":   map[string]any{"errorCode": code},
	})
}

// ownBox is the caller's mailbox named by the path, or a 404/403 answer.
func (s *Server) ownBox(w http.ResponseWriter, r *http.Request, u *User) (*mailbox, bool) {
	b, ok := s.mail.box(r.PathValue("acct"))
	switch {
	case !ok:
		mailError(w, http.StatusNotFound, "INVALID_ACCOUNTID", "Invalid Input")
		return nil, false
	case b.user.ZUID != u.ZUID:
		mailError(w, http.StatusForbidden, "NO_PERMISSION", "Permission denied")
		return nil, false
	}
	return b, true
}

func (s *Server) handleMailAccounts(w http.ResponseWriter, r *http.Request, u *User) {
	s.mail.mu.Lock()
	_, ok := s.mail.box(u.MailAcct)
	s.mail.mu.Unlock()
	if !ok {
		mailOK(w, []map[string]any{})
		return
	}
	mailOK(w, []map[string]any{{
		"accountId": u.MailAcct, "accountName": u.First, "accountDisplayName": u.Name(), "displayName": u.Name(),
		"primaryEmailAddress": u.Email, "mailboxAddress": u.Email, "incomingUserName": u.Email, "type": "ZOHO_ACCOUNT",
		"sequence": 1, "enabled": true, "zuid": json.Number(u.ZUID), "role": "member",
		"emailAddress": []map[string]any{{"isAlias": false, "isPrimary": true, "mailId": u.Email, "isConfirmed": true}},
		"URI":          "https://mail.zoho." + apiSuffix[u.DC] + "/api/accounts/" + u.MailAcct,
	}})
}

func (s *Server) handleFolders(w http.ResponseWriter, r *http.Request, u *User) {
	s.mail.mu.Lock()
	defer s.mail.mu.Unlock()
	b, ok := s.ownBox(w, r, u)
	if !ok {
		return
	}
	var out []map[string]any
	for t, id := range b.folders {
		out = append(out, map[string]any{
			"folderId": id, "folderName": t, "folderType": t, "path": "/" + t, "imapAccess": "true",
			"isArchived": 0, "URI": "https://mail.zoho." + apiSuffix[u.DC] + "/api/accounts/" + u.MailAcct + "/folders/" + id,
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i]["folderId"].(string) < out[j]["folderId"].(string) })
	mailOK(w, out)
}

func (s *Server) handleView(w http.ResponseWriter, r *http.Request, u *User) {
	s.mail.mu.Lock()
	defer s.mail.mu.Unlock()
	b, ok := s.ownBox(w, r, u)
	if !ok {
		return
	}
	q := r.URL.Query()
	start, err := strconv.Atoi(cmpOr(q.Get("start"), "1"))
	if err != nil || start < 1 {
		mailError(w, http.StatusBadRequest, "INVALID_INPUT", "Invalid Input")
		return
	}
	limit := limitParam(r, 10, 200)
	// Archived mail is listed only when asked for (get-emails-list.html:
	// includearchive, "Whether the Archived emails need to be included or
	// not on the list of emails retrieved").
	mails := b.folderMails(q.Get("folderId"), q.Get("sortorder") == "true", q.Get("includearchive") == "true")
	includeTo := q.Get("includeto") == "true"
	threads := map[string]int{}
	for _, m := range b.mails {
		if m.ThreadID != "" {
			threads[m.ThreadID]++
		}
	}
	out := []map[string]any{}
	for i := start - 1; i < len(mails) && len(out) < limit; i++ {
		out = append(out, mailJSON(b, mails[i], includeTo, threads))
	}
	mailOK(w, out)
}

// mailJSON renders a list item with Zoho's types: nearly everything a
// string, ids beyond 2^53 as JSON numbers.
func mailJSON(b *mailbox, m *Mail, includeTo bool, threads map[string]int) map[string]any {
	out := map[string]any{
		"summary": m.Summary, "sentDateInGMT": strconv.FormatInt(m.Sent, 10), "calendarType": 0, "subject": m.Subject,
		"messageId": json.Number(m.ID), "flagid": "flag_not_set", "status2": "0", "priority": "3", "hasInline": "false",
		"folderId": b.folders[m.Folder], "ccAddress": addressList(m.Cc), "hasAttachment": "0", "size": strconv.Itoa(900 + len(m.Summary)),
		"sender": htmlEscape(cmpOr(m.From.Name, m.From.Email)), "receivedTime": strconv.FormatInt(m.Received, 10),
		"fromAddress": htmlEscape(m.From.Email), "status": "0",
	}
	if includeTo {
		out["toAddress"] = addressList(m.To)
	}
	if m.ThreadID != "" {
		out["threadId"] = json.Number(m.ThreadID)
		out["threadCount"] = strconv.Itoa(threads[m.ThreadID])
	}
	return out
}

func (s *Server) handleHeader(w http.ResponseWriter, r *http.Request, u *User) {
	s.mail.mu.Lock()
	defer s.mail.mu.Unlock()
	b, ok := s.ownBox(w, r, u)
	if !ok {
		return
	}
	s.mail.HeaderCalls++
	for _, m := range b.mails {
		if m.ID != r.PathValue("msg") || b.folders[m.Folder] != r.PathValue("folder") {
			continue
		}
		var lines []string
		lines = append(lines, "Received: from mx.zoho.eu by mx.zohomail.eu", "Message-ID: <"+m.ID+"@zylker.example>",
			"From: "+m.From.Email, "Subject: "+m.Subject, "MIME-Version: 1.0")
		keys := make([]string, 0, len(m.Headers))
		for k := range m.Headers {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			lines = append(lines, k+": "+m.Headers[k])
		}
		mailOK(w, map[string]any{"headerContent": strings.Join(lines, "\r\n")})
		return
	}
	mailError(w, http.StatusNotFound, "INVALID_MESSAGEID", "Invalid Input")
}

// SetMailHook sets the outgoing webhook URL of a user's mailbox (Settings →
// Integrations → Developer Space → Outgoing Webhooks, by hand, per mailbox).
func (s *Server) SetMailHook(user, url string) error {
	u, ok := s.user(user)
	if !ok {
		return errNoUser(user)
	}
	s.mail.mu.Lock()
	s.mail.hookURL[u.MailAcct] = url
	s.mail.mu.Unlock()
	return nil
}

// RemoveMailbox takes a user's Zoho Mail account away: the user keeps
// Zoho Accounts and Cliq (a Cliq-only user), and GET /api/accounts lists
// no account.
func (s *Server) RemoveMailbox(user string) error {
	u, ok := s.user(user)
	if !ok {
		return errNoUser(user)
	}
	s.mail.mu.Lock()
	delete(s.mail.boxes, u.MailAcct)
	delete(s.mail.hookURL, u.MailAcct)
	s.mail.mu.Unlock()
	return nil
}

// DeliverMail stores a message and, for an inbound one, posts the
// mailbox's outgoing webhook (when one is set) with the fields Zoho is
// reported to send. The webhook is only a nudge to the service.
func (s *Server) DeliverMail(ctx context.Context, in MailInput) (*Mail, []sandbox.Result, error) {
	m, err := s.AddMail(in)
	if err != nil {
		return nil, nil, err
	}
	u, _ := s.user(cmpOr(in.User, UserAda))
	s.mail.mu.Lock()
	hook := s.mail.hookURL[u.MailAcct]
	b, ok := s.mail.box(u.MailAcct)
	s.mail.mu.Unlock()
	if hook == "" || !ok || m.Folder != FolderInbox {
		return m, nil, nil
	}
	body, _ := json.Marshal(map[string]any{
		"messageId": json.Number(m.ID), "folderId": b.folders[m.Folder], "subject": m.Subject, "summary": m.Summary,
		"fromAddress": m.From.Email, "sender": m.From.Name, "toAddress": addressList(m.To),
		"receivedTime": strconv.FormatInt(m.Received, 10), "html": "<div>" + htmlEscape(m.Summary) + "</div>",
	})
	d := &sandbox.Deliverer{}
	d.SetTarget(hook)
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	return m, d.Send(ctx, sandbox.Delivery{Header: h, Body: body}, sandbox.DeliveryOptions{}), nil
}

type errNoUser string

func (e errNoUser) Error() string { return "no user " + strconv.Quote(string(e)) }

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
