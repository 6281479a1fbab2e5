package gmailsandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/poblysh/poblysh/sandbox"
	googlesandbox "github.com/poblysh/poblysh/sandbox/google"
)

// ErrNoMessage is a control call about a message the mailbox does not have.
var ErrNoMessage = errors.New("gmailsandbox: no such message")

// MessageInput describes a message arriving in (or sent from) a mailbox.
type MessageInput struct {
	// User is the mailbox (default: the fake's user).
	User string `json:"user,omitempty"`
	// From, To and Cc are header values ("Name <a@b>, c@d").
	From string `json:"from"`
	To   string `json:"to"`
	Cc   string `json:"cc,omitempty"`
	// Subject and Snippet; the snippet stands for the body Gmail excerpts.
	Subject string `json:"subject"`
	Snippet string `json:"snippet,omitempty"`
	// Labels default to INBOX and UNREAD, or SENT when From is the mailbox.
	Labels []string `json:"labels,omitempty"`
	// ThreadID joins an existing thread (a reply); empty starts one.
	ThreadID string `json:"thread_id,omitempty"`
	// List headers of a newsletter.
	ListID          string `json:"list_id,omitempty"`
	ListUnsubscribe string `json:"list_unsubscribe,omitempty"`
	Precedence      string `json:"precedence,omitempty"`
	// AutoSubmitted is RFC 3834's Auto-Submitted of an auto-reply.
	AutoSubmitted string `json:"auto_submitted,omitempty"`
	// ReplyTo and OriginalFrom (X-Original-From) are header values: a
	// Google Group that rewrote From to its own address writes both.
	ReplyTo      string `json:"reply_to,omitempty"`
	OriginalFrom string `json:"original_from,omitempty"`
	// Age backdates internalDate.
	Age time.Duration `json:"-"`
	// ID fixes the message id (seeds); empty derives one.
	ID string `json:"id,omitempty"`
}

// Message is what a control call reports of a message.
type Message struct {
	ID        string `json:"id"`
	ThreadID  string `json:"thread_id"`
	HistoryID uint64 `json:"history_id"`
}

// AddMessage stores a message, records it in the mailbox's history and
// publishes a push when the mailbox is watched for one of its labels.
func (s *Server) AddMessage(ctx context.Context, in MessageInput, opt sandbox.DeliveryOptions) (Message, []sandbox.Result, error) {
	s.mu.Lock()
	m, b, err := s.addLocked(in)
	if err != nil {
		s.mu.Unlock()
		return Message{}, nil, err
	}
	hid, user, labels := b.historyID, b.user, slices.Clone(m.labels)
	s.mu.Unlock()
	return Message{ID: m.id, ThreadID: m.threadID, HistoryID: hid}, s.publish(ctx, user, labels, hid, opt), nil
}

func (s *Server) addLocked(in MessageInput) (*gmsg, *mailbox, error) {
	user := strings.ToLower(in.User)
	if user == "" {
		user = s.opts.User
	}
	b := s.boxLocked(user)
	if strings.TrimSpace(in.From) == "" || strings.TrimSpace(in.To+in.Cc) == "" {
		return nil, nil, fmt.Errorf("gmailsandbox: from and to are required")
	}
	labels := in.Labels
	if len(labels) == 0 {
		labels = []string{"INBOX", "UNREAD"}
		if from := strings.ToLower(in.From); strings.Contains(from, user) || strings.Contains(from, b.user) {
			labels = []string{"SENT"}
		}
	}
	for _, l := range labels {
		if b.labels[l] == nil {
			return nil, nil, fmt.Errorf("gmailsandbox: no label %s", l)
		}
	}
	id := in.ID
	if id == "" {
		s.pushSeq++
		id = msgID(fmt.Sprintf("%s/%d/%s", user, s.pushSeq, in.Subject))
	}
	if b.messages[id] != nil {
		return nil, nil, fmt.Errorf("gmailsandbox: message %s exists", id)
	}
	thread := in.ThreadID
	var inReplyTo string
	if thread == "" {
		thread = id // Gmail names a thread after its first message
	} else {
		first := b.messages[thread]
		if first == nil {
			return nil, nil, fmt.Errorf("%w: thread %s", ErrNoMessage, thread)
		}
		inReplyTo = messageID(first.id)
	}
	at := s.now().Add(-in.Age)
	m := &gmsg{id: id, threadID: thread, labels: slices.Clone(labels), snippet: in.Snippet, internal: at, size: int64(2048 + len(in.Snippet))}
	m.headers = [][2]string{{"Date", at.Format(time.RFC1123Z)}, {"From", in.From}, {"To", in.To}}
	if in.Cc != "" {
		m.headers = append(m.headers, [2]string{"Cc", in.Cc})
	}
	m.headers = append(m.headers, [2]string{"Subject", in.Subject}, [2]string{"Message-ID", messageID(id)})
	if inReplyTo != "" {
		m.headers = append(m.headers, [2]string{"In-Reply-To", inReplyTo}, [2]string{"References", inReplyTo})
	}
	for _, h := range [][2]string{{"List-Id", in.ListID}, {"List-Unsubscribe", in.ListUnsubscribe}, {"Precedence", in.Precedence}, {"Auto-Submitted", in.AutoSubmitted},
		{"Reply-To", in.ReplyTo}, {"X-Original-From", in.OriginalFrom}} {
		if h[1] != "" {
			m.headers = append(m.headers, h)
		}
	}
	m.headers = append(m.headers, [2]string{"Received", "from mail-sor-f41.google.com by mx.google.com"})
	m.historyID = b.nextHistory()
	b.messages[id] = m
	b.history = append(b.history, hrec{id: m.historyID, kind: "messageAdded", msgID: id, labels: slices.Clone(labels)})
	return m, b, nil
}

// LabelMessage adds labels to a message (history labelAdded) and publishes.
func (s *Server) LabelMessage(ctx context.Context, user, id string, add []string, opt sandbox.DeliveryOptions) ([]sandbox.Result, error) {
	return s.relabel(ctx, user, id, add, "labelAdded", opt, func(m *gmsg, l string) bool {
		if slices.Contains(m.labels, l) {
			return false
		}
		m.labels = append(m.labels, l)
		return true
	})
}

// UnlabelMessage takes labels off a message (history labelRemoved; taking
// INBOX off is what archiving is) and publishes. The message's labelIds are
// its current labels from then on, in messages.get and in every history
// record that names it, as Gmail's are.
func (s *Server) UnlabelMessage(ctx context.Context, user, id string, remove []string, opt sandbox.DeliveryOptions) ([]sandbox.Result, error) {
	return s.relabel(ctx, user, id, remove, "labelRemoved", opt, func(m *gmsg, l string) bool {
		i := slices.Index(m.labels, l)
		if i < 0 {
			return false
		}
		m.labels = slices.Delete(m.labels, i, i+1)
		return true
	})
}

// relabel applies change to each of labels on a message, records one
// history record of kind naming the labels it changed, and publishes.
func (s *Server) relabel(ctx context.Context, user, id string, labels []string, kind string, opt sandbox.DeliveryOptions,
	change func(m *gmsg, label string) bool) ([]sandbox.Result, error) {
	if user == "" {
		user = s.opts.User
	}
	s.mu.Lock()
	b := s.boxLocked(user)
	m := b.messages[id]
	if m == nil {
		s.mu.Unlock()
		return nil, fmt.Errorf("%w: %s", ErrNoMessage, id)
	}
	var changed []string
	for _, l := range labels {
		if b.labels[l] == nil {
			s.mu.Unlock()
			return nil, fmt.Errorf("gmailsandbox: no label %s", l)
		}
		if change(m, l) {
			changed = append(changed, l)
		}
	}
	m.historyID = b.nextHistory()
	b.history = append(b.history, hrec{id: m.historyID, kind: kind, msgID: id, labels: changed})
	hid := b.historyID
	s.mu.Unlock()
	return s.publish(ctx, user, changed, hid, opt), nil
}

// ArchiveMessage takes a message out of the inbox (UnlabelMessage INBOX),
// as Gmail's Archive does.
func (s *Server) ArchiveMessage(ctx context.Context, user, id string, opt sandbox.DeliveryOptions) ([]sandbox.Result, error) {
	return s.UnlabelMessage(ctx, user, id, []string{"INBOX"}, opt)
}

// AddLabel creates a user label and returns its id (Label_N).
func (s *Server) AddLabel(user, name string) string {
	if user == "" {
		user = s.opts.User
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.boxLocked(user)
	for _, l := range b.labels {
		if l.name == name {
			return l.id
		}
	}
	id := fmt.Sprintf("Label_%d", len(b.labels)-len(systemLabels)+1)
	b.labels[id] = &label{id: id, name: name, kind: "user"}
	return id
}

// DeleteMessage deletes a message for good.
func (s *Server) DeleteMessage(user, id string) {
	if user == "" {
		user = s.opts.User
	}
	s.mu.Lock()
	delete(s.boxLocked(user).messages, id)
	s.mu.Unlock()
}

// ExpireHistory makes every history id issued so far too old: history.list
// from any of them answers 404, as Gmail does after about a week.
func (s *Server) ExpireHistory(user string) {
	if user == "" {
		user = s.opts.User
	}
	s.mu.Lock()
	b := s.boxLocked(user)
	b.minHistory = b.nextHistory()
	s.mu.Unlock()
}

// ErrAddressTaken is a rename to an address another mailbox has.
var ErrAddressTaken = errors.New("gmailsandbox: the address is another mailbox's")

// RenameUser renames a mailbox's user ("" for the fake's), as a Workspace
// admin renames a user: the account, its grants and tokens, its mailbox
// and its watch stay; users.getProfile and the pushes name the new
// address, id_tokens and userinfo too (with the same subject), and the old
// address becomes an alias (control calls and authorizations with it reach
// the same mailbox).
func (s *Server) RenameUser(user, to string) error {
	if user == "" {
		user = s.opts.User
	}
	to = strings.ToLower(strings.TrimSpace(to))
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.boxLocked(user)
	if other, ok := s.boxes[s.OAuth.Account(to)]; ok && other != b {
		return fmt.Errorf("%w: %s", ErrAddressTaken, to)
	}
	if err := s.OAuth.Rename(user, to); err != nil {
		return err
	}
	b.user = to
	return nil
}

// WatchInfo is a mailbox's users.watch state.
type WatchInfo struct {
	Active  bool      `json:"active"`
	Topic   string    `json:"topic,omitempty"`
	Labels  []string  `json:"labels,omitempty"`
	Expires time.Time `json:"expires,omitempty"`
	// Calls counts users.watch calls (renewals included).
	Calls int `json:"calls"`
}

// Watch reports a mailbox's watch ("" for the fake's user).
func (s *Server) Watch(user string) WatchInfo {
	if user == "" {
		user = s.opts.User
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.boxLocked(user)
	out := WatchInfo{Calls: b.watchCalls}
	if w := b.watch; w != nil && s.now().Before(w.expires) {
		out.Active, out.Topic, out.Labels, out.Expires = true, w.topic, slices.Clone(w.labels), w.expires
	}
	return out
}

// controlRoutes mounts the Gmail control API:
//
//	POST /_sandbox/gmail/messages                     a message arrives or is sent (MessageInput)
//	POST /_sandbox/gmail/messages/{id}/labels         {"add": [label, …], "remove": [label, …]}
//	                                                  ({"remove": ["INBOX"]} archives)
//	POST /_sandbox/gmail/labels                       {"name"}: a user label; answers its id
//	POST /_sandbox/gmail/expire-history               every history id so far answers 404
//	POST /_sandbox/gmail/rename                       {"to"}: the user is renamed (RenameUser)
//	GET  /_sandbox/gmail/watch                        the mailbox's users.watch
//	POST /_sandbox/gmail/push?forge=…                 a push now: genuine, or forged with
//	                                                  audience, signer, expired, unverified or email
//	POST /_sandbox/gmail/consent                      {"decline": [scope, …]} (googlesandbox.OAuth)
//
// ?user= picks another mailbox; ?copies=N and ?hold=true shape the pushes.
func (s *Server) controlRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /_sandbox/gmail/messages", func(w http.ResponseWriter, r *http.Request) {
		var in MessageInput
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			sandbox.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "body must be a message: " + err.Error()})
			return
		}
		opt, err := googlesandbox.DeliveryOptions(r)
		if err != nil {
			sandbox.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		m, res, err := s.AddMessage(r.Context(), in, opt)
		if err != nil {
			sandbox.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		sandbox.WriteJSON(w, http.StatusCreated, map[string]any{"message": m, "pushes": googlesandbox.Results(res)})
	})
	mux.HandleFunc("POST /_sandbox/gmail/messages/{id}/labels", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Add    []string `json:"add"`
			Remove []string `json:"remove"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || len(body.Add)+len(body.Remove) == 0 {
			sandbox.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": `body must be {"add": ["<label id>", ...], "remove": ["<label id>", ...]}`})
			return
		}
		user, id := r.URL.Query().Get("user"), r.PathValue("id")
		var res []sandbox.Result
		var err error
		if len(body.Add) > 0 {
			res, err = s.LabelMessage(r.Context(), user, id, body.Add, sandbox.DeliveryOptions{})
		}
		if err == nil && len(body.Remove) > 0 {
			var more []sandbox.Result
			more, err = s.UnlabelMessage(r.Context(), user, id, body.Remove, sandbox.DeliveryOptions{})
			res = append(res, more...)
		}
		if err != nil {
			status := http.StatusBadRequest
			if errors.Is(err, ErrNoMessage) {
				status = http.StatusNotFound
			}
			sandbox.WriteJSON(w, status, map[string]string{"error": err.Error()})
			return
		}
		sandbox.WriteJSON(w, http.StatusOK, map[string]any{"pushes": googlesandbox.Results(res)})
	})
	mux.HandleFunc("POST /_sandbox/gmail/labels", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Name string `json:"name"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Name == "" {
			sandbox.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": `body must be {"name": "..."}`})
			return
		}
		sandbox.WriteJSON(w, http.StatusCreated, map[string]string{"id": s.AddLabel(r.URL.Query().Get("user"), body.Name)})
	})
	mux.HandleFunc("POST /_sandbox/gmail/expire-history", func(w http.ResponseWriter, r *http.Request) {
		s.ExpireHistory(r.URL.Query().Get("user"))
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /_sandbox/gmail/rename", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			To string `json:"to"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || !strings.Contains(body.To, "@") {
			sandbox.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": `body must be {"to": "<new address>"}`})
			return
		}
		if err := s.RenameUser(r.URL.Query().Get("user"), body.To); err != nil {
			status := http.StatusBadRequest
			if errors.Is(err, ErrAddressTaken) {
				status = http.StatusConflict
			}
			sandbox.WriteJSON(w, status, map[string]string{"error": err.Error()})
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /_sandbox/gmail/watch", func(w http.ResponseWriter, r *http.Request) {
		sandbox.WriteJSON(w, http.StatusOK, s.Watch(r.URL.Query().Get("user")))
	})
	mux.HandleFunc("POST /_sandbox/gmail/push", func(w http.ResponseWriter, r *http.Request) {
		var o PushOptions
		switch f := r.URL.Query().Get("forge"); f {
		case "":
		case "audience":
			o.Audience = "https://attacker.example/push"
		case "signer":
			o.ForeignSigner = true
		case "expired":
			o.Expired = true
		case "unverified":
			o.Unverified = true
		case "email":
			o.Email = "someone@attacker-project.iam.gserviceaccount.com"
		default:
			sandbox.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "forge must be audience, signer, expired, unverified or email"})
			return
		}
		opt, err := googlesandbox.DeliveryOptions(r)
		if err != nil {
			sandbox.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		sandbox.WriteJSON(w, http.StatusOK, map[string]any{"pushes": googlesandbox.Results(s.Push(r.Context(), r.URL.Query().Get("user"), o, opt))})
	})
}
