package gmailsandbox

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// gmsg is a stored message.
type gmsg struct {
	id, threadID string
	labels       []string
	snippet      string
	internal     time.Time
	historyID    uint64
	headers      [][2]string
	size         int64
}

// hrec is a history record: a message added, or labels added to or
// removed from one.
type hrec struct {
	id     uint64
	kind   string // messageAdded, labelAdded or labelRemoved
	msgID  string
	labels []string // the message's labels then (messageAdded) or the labels added (labelAdded) or removed (labelRemoved)
}

// label is a mailbox label.
type label struct {
	id, name, kind string // kind: system or user
}

// mailbox is one user's mail.
type mailbox struct {
	user     string
	messages map[string]*gmsg
	labels   map[string]*label
	history  []hrec
	// historyID is the mailbox's current history id; minHistory the oldest
	// start history.list accepts (older ones answer 404).
	historyID, minHistory uint64
	watch                 *watchState
	watchCalls            int
}

// watchState is a mailbox's users.watch registration.
type watchState struct {
	topic     string
	labels    []string
	exclude   bool
	expires   time.Time
	historyID uint64
}

// systemLabels every mailbox has.
var systemLabels = []string{"INBOX", "SENT", "DRAFT", "SPAM", "TRASH", "UNREAD", "STARRED", "IMPORTANT",
	"CATEGORY_PERSONAL", "CATEGORY_SOCIAL", "CATEGORY_PROMOTIONS", "CATEGORY_UPDATES", "CATEGORY_FORUMS"}

func newMailbox(user string) *mailbox {
	b := &mailbox{user: user, messages: map[string]*gmsg{}, labels: map[string]*label{}, historyID: 400000, minHistory: 1}
	for _, l := range systemLabels {
		b.labels[l] = &label{id: l, name: l, kind: "system"}
	}
	return b
}

// boxLocked returns a user's mailbox, creating it: the mailbox of the
// account the address names (a renamed user's old address is an alias of
// it), whose user is the account's current address.
func (s *Server) boxLocked(user string) *mailbox {
	acct := s.OAuth.Account(user)
	b, ok := s.boxes[acct]
	if !ok {
		b = newMailbox(strings.ToLower(s.OAuth.Address(acct)))
		s.boxes[acct] = b
	}
	return b
}

// nextHistory moves the mailbox's history id on: ids grow with gaps, as
// Gmail's do.
func (b *mailbox) nextHistory() uint64 {
	b.historyID += 3 + b.historyID%5
	return b.historyID
}

// msgID is a Gmail-like message id: 16 hex digits derived from seed.
func msgID(seed string) string {
	sum := sha256.Sum256([]byte(seed))
	n := binary.BigEndian.Uint64(sum[:8])>>4 | 1<<59 // 16 hex digits starting with 1…
	return strconv.FormatUint(n, 16)
}

// wire renders m as messages.get does for format (metadata: only the
// headers asked for, all when none; minimal: no payload).
func (m *gmsg) wire(format string, only []string) map[string]any {
	out := map[string]any{
		"id": m.id, "threadId": m.threadID, "labelIds": slices.Clone(m.labels), "snippet": m.snippet,
		"historyId": strconv.FormatUint(m.historyID, 10), "internalDate": strconv.FormatInt(m.internal.UnixMilli(), 10),
		"sizeEstimate": m.size,
	}
	if format == "minimal" {
		return out
	}
	var hs []map[string]string
	for _, h := range m.headers {
		if len(only) > 0 && !slices.ContainsFunc(only, func(o string) bool { return strings.EqualFold(o, h[0]) }) {
			continue
		}
		hs = append(hs, map[string]string{"name": h[0], "value": h[1]})
	}
	out["payload"] = map[string]any{"partId": "", "mimeType": "multipart/alternative", "filename": "", "headers": hs}
	return out
}

// ref renders m as lists and history carry it.
func (m *gmsg) ref(withLabels bool) map[string]any {
	r := map[string]any{"id": m.id, "threadId": m.threadID}
	if withLabels {
		r["labelIds"] = slices.Clone(m.labels)
	}
	return r
}

// messageID is an RFC 5322 Message-ID for a sandbox message.
func messageID(id string) string { return fmt.Sprintf("<CA+%s@mail.gmail.com>", id) }
