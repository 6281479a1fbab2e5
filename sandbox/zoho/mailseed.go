package zohosandbox

import "time"

// Seeded mail for UserAda. Inbox: seven messages, each starting a thread;
// a Reuters reporter's request for comment (press), a Verge newsletter
// with list headers (a media domain, never press), a freelance reporter
// the tenant lists itself (press when the config names
// SeedPressAddress), colleagues and a vendor. Sent: a reply to the
// reporter (same thread: press again, outbound) and two new threads.
const (
	// SeedPressAddress is the freelance reporter a tenant adds to its own
	// press contacts in the connection config.
	SeedPressAddress = "tom@freelance.example"
	// SeedInboxSignals: 7 email.received, 7 email.thread_started and 2
	// email.press_thread (Reuters; the listed freelancer).
	SeedInboxSignals = 16
	// SeedSentSignals: 3 email.sent, 2 email.thread_started and 1
	// email.press_thread (the reply to Reuters).
	SeedSentSignals = 6
	// SeedPressThreads is the number of distinct press threads.
	SeedPressThreads = 2
)

// ExpectedMail maps a Zoho Mail connection's streams (config naming
// SeedPressAddress) to the exact Signal counts of a backfill of the seed.
func ExpectedMail() map[string]int {
	return map[string]int{"inbox": SeedInboxSignals, "sent": SeedSentSignals}
}

// Subjects of the seeded Inbox's press mail (MailID finds their ids): the
// Reuters reporter's request for comment, and the listed freelancer's.
const (
	SeedInquirySubject   = "Request for comment: Zylker pricing change"
	SeedFreelanceSubject = "Following up on our chat last week"
)

// ReporterAddress is the seeded Reuters reporter.
var ReporterAddress = Address{Name: "Jane Doe", Email: "jane.doe@reuters.com"}

func (ms *mailStore) seed() {
	s := ms.s
	ada := Address{Name: "Ada Lovelace", Email: "ada@zylker.eu"}
	priya := Address{Name: "Priya Raman", Email: "priya@zylker.eu"}
	marco := Address{Name: "Marco Rossi", Email: "marco@zylker.eu"}
	at := s.now().Add(-48 * time.Hour)
	next := func() time.Time { at = at.Add(31 * time.Minute); return at }
	add := func(in MailInput) *Mail {
		in.User, in.At = UserAda, next()
		m, err := s.AddMail(in)
		if err != nil {
			panic("zohosandbox mail seed: " + err.Error())
		}
		return m
	}
	add(MailInput{From: priya, To: []Address{ada}, Subject: "Q3 planning", Summary: "Can we block an hour on Thursday?"})
	inquiry := add(MailInput{From: ReporterAddress, To: []Address{ada}, Subject: SeedInquirySubject,
		Summary: "I'm writing a story on the new pricing and would like a comment by 5pm."})
	add(MailInput{From: Address{Name: "The Verge", Email: "newsletter@theverge.com"}, To: []Address{ada},
		Subject: "This week in tech: the launches you missed", Summary: "Our weekly roundup.",
		Headers: map[string]string{"List-Id": "<weekly.theverge.com>", "List-Unsubscribe": "<https://theverge.com/unsubscribe>",
			"Precedence": "bulk"}})
	add(MailInput{From: marco, To: []Address{ada}, Cc: []Address{priya}, Subject: "FAQ review", Summary: "Left comments in the doc."})
	add(MailInput{From: Address{Name: "Tom O'Brien", Email: SeedPressAddress}, To: []Address{ada},
		Subject: SeedFreelanceSubject, Summary: "Would you have 20 minutes next week?"})
	add(MailInput{From: Address{Name: "Vendor Billing", Email: "billing@vendor.example"}, To: []Address{ada},
		Subject: "Invoice #4411", Summary: "Your invoice is attached."})
	add(MailInput{From: Address{Name: "R&D <Team>", Email: "rnd@zylker.eu"}, To: []Address{ada, marco}, Cc: []Address{priya},
		Subject: "Launch checklist & owners", Summary: "Owners per item inside."})

	add(MailInput{Folder: FolderSent, To: []Address{ReporterAddress}, ReplyTo: inquiry.ID,
		Subject: "Re: Request for comment: Zylker pricing change", Summary: "Here is our statement."})
	add(MailInput{Folder: FolderSent, To: []Address{priya}, Subject: "Q3 planning notes", Summary: "Notes attached."})
	add(MailInput{Folder: FolderSent, To: []Address{marco}, Subject: "FAQ edits", Summary: "Done, see v4."})
}
