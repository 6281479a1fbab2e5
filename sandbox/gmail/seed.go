package gmailsandbox

import "time"

// Seeded message ids (each seeded thread is named after its first message).
var (
	ConferenceID = msgID("seed:conference")
	InquiryID    = msgID("seed:inquiry")
	ReplyID      = msgID("seed:reply")
	NewsletterID = msgID("seed:newsletter")
	EmbargoID    = msgID("seed:embargo")
	OldID        = msgID("seed:old")
	ReceiptID    = msgID("seed:receipt")
)

// ReceiptsLabelID is the seeded user label "Receipts".
const ReceiptsLabelID = "Label_1"

// Signals a 30-day backfill of the seeded mailbox yields per label stream.
const (
	// InboxSignals: the conference invitation (received, thread started),
	// the press inquiry from Reuters (received, thread started, press
	// thread) and a media newsletter (received, thread started: list mail
	// is not press); the recap is 45 days old.
	InboxSignals = 7
	// SentSignals: the reply to the reporter (sent, and the thread's press
	// Signal again, which the store keeps once) and a new outbound thread
	// to a PR agency (sent, thread started).
	SentSignals = 4
)

// seed fills the default user's mailbox, dated relative to now.
func (s *Server) seed() {
	day := 24 * time.Hour
	me := s.opts.User
	s.mu.Lock()
	defer s.mu.Unlock()
	receipts := ReceiptsLabelID
	s.boxLocked(me).labels[receipts] = &label{id: receipts, name: "Receipts", kind: "user"}
	for _, in := range []MessageInput{
		{ID: OldID, From: "Pat Partner <pat@partner.example>", To: me, Subject: "Q1 recap", Snippet: "Attached is the recap of our Q1 joint campaign.", Age: 45 * day},
		{ID: ConferenceID, From: "MediaConf Events <events@mediaconf.example>", To: me, Subject: "Speaker slot at MediaConf 2025",
			Snippet: "We would love to have you on the main stage in October.", Age: 5 * day},
		{ID: EmbargoID, From: "Ada Lovelace <" + me + ">", To: "Jo Publicist <jo@northwind-pr.example>", Cc: "press@example.com",
			Subject: "Launch timeline for Tuesday", Snippet: "Confirming the launch goes live Tuesday at 9am ET.", Age: 4 * day},
		{ID: InquiryID, From: "Sam Reporter <sam.reporter@reuters.com>", To: "Ada Lovelace <" + me + ">",
			Subject: "Request for comment on the Northwind launch", Snippet: "I&#39;m writing a story on the Northwind launch and would welcome a comment by 5pm.", Age: 3 * day},
		{ID: ReplyID, ThreadID: InquiryID, From: "Ada Lovelace <" + me + ">", To: "Sam Reporter <sam.reporter@reuters.com>",
			Subject: "Re: Request for comment on the Northwind launch", Snippet: "Thanks Sam, here is our statement.", Age: 2 * day},
		{ID: ReceiptID, From: "Billing <billing@saas.example>", To: me, Subject: "Your receipt", Labels: []string{receipts}, Age: 2 * day},
		{ID: NewsletterID, From: "The Verge <newsletter@theverge.com>", To: me, Subject: "Verge Daily: the launch everyone missed",
			ListID: "Verge Daily <daily.theverge.com>", ListUnsubscribe: "<mailto:unsubscribe@theverge.com>", Precedence: "bulk",
			Snippet: "Today: the launch everyone missed, and more.", Age: day},
	} {
		if _, _, err := s.addLocked(in); err != nil {
			panic("gmailsandbox: seed: " + err.Error())
		}
	}
}
