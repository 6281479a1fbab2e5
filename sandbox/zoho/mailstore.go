package zohosandbox

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Folder types of Zoho Mail (GET /api/accounts/{id}/folders folderType).
const (
	FolderInbox  = "Inbox"
	FolderSent   = "Sent"
	FolderDrafts = "Drafts"
	FolderSpam   = "Spam"
	FolderTrash  = "Trash"
)

// Address is a mailbox.
type Address struct {
	Name  string `json:"name,omitempty"`
	Email string `json:"email"`
}

// Mail is a message of the fake's mailboxes.
type Mail struct {
	ID       string // 19 digits, beyond 2^53
	ThreadID string // the thread's first message id ("" for a lone message)
	Folder   string // folder type
	Subject  string
	Summary  string
	From     Address
	To, Cc   []Address
	Received int64 // ms
	Sent     int64 // ms
	// Headers are extra header lines (List-Id, List-Unsubscribe, Precedence…).
	Headers map[string]string
	// Archived is mail the user (or the archive policy) archived: it stays
	// in its folder, and messages/view lists it only with includearchive=true.
	Archived bool
}

type mailbox struct {
	user    *User
	folders map[string]string // type → folder id
	mails   []*Mail
}

type mailStore struct {
	s       *Server
	mu      sync.Mutex
	boxes   map[string]*mailbox // by accountId
	seq     int64
	hookURL map[string]string // accountId → outgoing webhook URL
	// HeaderCalls counts header lookups (press candidates).
	HeaderCalls int
}

func newMailStore(s *Server) *mailStore {
	ms := &mailStore{s: s, boxes: map[string]*mailbox{}, seq: 1711540357880100001, hookURL: map[string]string{}}
	for _, u := range defaultUsers() {
		base, _ := strconv.ParseInt(u.MailAcct, 10, 64)
		b := &mailbox{user: s.users[u.ZUID], folders: map[string]string{}}
		for i, t := range []string{FolderInbox, FolderDrafts, FolderSent, FolderSpam, FolderTrash} {
			b.folders[t] = strconv.FormatInt(base+int64(10+i), 10)
		}
		ms.boxes[u.MailAcct] = b
	}
	return ms
}

// MailInput is a message to deliver to (Inbox) or send from (Sent) a
// user's mailbox through the control API.
type MailInput struct {
	User    string            `json:"user"`
	Folder  string            `json:"folder"` // Inbox (default) or Sent
	From    Address           `json:"from"`
	To      []Address         `json:"to"`
	Cc      []Address         `json:"cc,omitempty"`
	Subject string            `json:"subject"`
	Summary string            `json:"summary,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
	// ReplyTo is the id of a message this one answers (same thread).
	ReplyTo string    `json:"reply_to,omitempty"`
	At      time.Time `json:"at,omitempty"`
}

// AddMail stores a message and returns it.
func (s *Server) AddMail(in MailInput) (*Mail, error) {
	ms := s.mail
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if in.User == "" {
		in.User = UserAda
	}
	u, ok := s.users[in.User]
	if !ok {
		return nil, fmt.Errorf("no user %q", in.User)
	}
	b, ok := ms.boxes[u.MailAcct]
	if !ok {
		return nil, fmt.Errorf("user %q has no mailbox", in.User)
	}
	folder := in.Folder
	if folder == "" {
		folder = FolderInbox
	}
	if _, ok := b.folders[folder]; !ok {
		return nil, fmt.Errorf("no folder %q", folder)
	}
	at := in.At
	if at.IsZero() {
		at = s.now()
	}
	ms.seq += 7919
	m := &Mail{ID: strconv.FormatInt(ms.seq, 10), Folder: folder, Subject: in.Subject, Summary: in.Summary,
		From: in.From, To: in.To, Cc: in.Cc, Received: at.UnixMilli(), Sent: at.Add(-3 * time.Second).UnixMilli(), Headers: in.Headers}
	if m.Summary == "" {
		m.Summary = in.Subject
	}
	if folder == FolderSent && m.From.Email == "" {
		m.From = Address{Name: u.Name(), Email: u.Email}
	}
	if in.ReplyTo != "" {
		for _, o := range b.mails {
			if o.ID == in.ReplyTo {
				m.ThreadID = o.ThreadID
				if m.ThreadID == "" {
					o.ThreadID, m.ThreadID = o.ID, o.ID
				}
			}
		}
		if m.ThreadID == "" {
			return nil, fmt.Errorf("no message %q to reply to", in.ReplyTo)
		}
	}
	b.mails = append(b.mails, m)
	return m, nil
}

// box returns the mailbox of an account id.
func (ms *mailStore) box(acct string) (*mailbox, bool) {
	b, ok := ms.boxes[acct]
	return b, ok
}

// ArchiveMail archives a message of a user's mailbox, as the user's
// Archive action or the folder's archive policy does
// (https://www.zoho.com/mail/help/archive-options.html: "When messages are
// archived, they are stored in the same folder and can be viewed from the
// Archive Views"): it keeps its folder, id and receivedTime, and
// messages/view leaves it out unless asked for it with includearchive=true.
func (s *Server) ArchiveMail(user, id string) error {
	u, ok := s.user(user)
	if !ok {
		return errNoUser(user)
	}
	ms := s.mail
	ms.mu.Lock()
	defer ms.mu.Unlock()
	b, ok := ms.box(u.MailAcct)
	if !ok {
		return fmt.Errorf("user %q has no mailbox", user)
	}
	for _, m := range b.mails {
		if m.ID == id {
			m.Archived = true
			return nil
		}
	}
	return fmt.Errorf("no message %q", id)
}

// MailID is the id of the first message of a user's mailbox with the
// subject (a seeded message's: SeedInquirySubject).
func (s *Server) MailID(user, subject string) (string, bool) {
	u, ok := s.user(user)
	if !ok {
		return "", false
	}
	ms := s.mail
	ms.mu.Lock()
	defer ms.mu.Unlock()
	b, ok := ms.box(u.MailAcct)
	if !ok {
		return "", false
	}
	for _, m := range b.mails {
		if m.Subject == subject {
			return m.ID, true
		}
	}
	return "", false
}

// folderMails lists a folder's messages newest first (sortorder=false),
// archived ones only when withArchived.
func (b *mailbox) folderMails(folderID string, ascending, withArchived bool) []*Mail {
	var typ string
	for t, id := range b.folders {
		if id == folderID {
			typ = t
		}
	}
	var out []*Mail
	for _, m := range b.mails {
		if m.Folder == typ && (withArchived || !m.Archived) {
			out = append(out, m)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if ascending {
			return out[i].Received < out[j].Received
		}
		return out[i].Received > out[j].Received
	})
	return out
}

// addressList renders addresses as Zoho Mail does: HTML-escaped,
// comma-separated, "Name"<addr> or <addr>; none is "Not Provided".
func addressList(as []Address) string {
	if len(as) == 0 {
		return "Not Provided"
	}
	var parts []string
	for _, a := range as {
		if a.Name != "" {
			parts = append(parts, "&quot;"+htmlEscape(a.Name)+"&quot;&lt;"+htmlEscape(a.Email)+"&gt;")
		} else {
			parts = append(parts, "&lt;"+htmlEscape(a.Email)+"&gt;")
		}
	}
	return strings.Join(parts, ",")
}

func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&#39;").Replace(s)
}
