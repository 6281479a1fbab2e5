package press

import "strings"

// role is what a mailbox's local part says about who reads it.
type role int

const (
	rolePerson    role = iota
	roleAutomated      // no-reply, bounces, notifications: nobody writes from it
	roleBusiness       // sales, billing, subscriptions: the outlet's business side
)

// mailboxRole classifies a local part. Automated senders are never press;
// business mailboxes at a media domain are judged like any company's,
// because an outlet's advertising or subscriptions desk is not a newsroom.
// Editorial role mailboxes (news@, newsdesk@, tips@, letters@) stay persons.
func mailboxRole(local string) role {
	if i := strings.IndexByte(local, '+'); i > 0 {
		local = local[:i]
	}
	for _, p := range automatedParts {
		if strings.Contains(local, p) {
			return roleAutomated
		}
	}
	if automatedLocals[local] {
		return roleAutomated
	}
	if businessLocals[local] {
		return roleBusiness
	}
	return rolePerson
}

// automatedParts mark a sender address nobody writes from, anywhere in the
// local part: "messages-noreply", "bounces+1234", "reply-noreply-42".
var automatedParts = []string{"noreply", "no-reply", "no_reply", "donotreply", "do-not-reply", "do_not_reply", "bounce", "mailer-daemon"}

var automatedLocals = set(`postmaster notifications notification notify alerts alert news-alerts newsalerts
	breakingnews breaking-news digest updates newsletter newsletters mailer daemon auto-confirm autoconfirm
	auto-reply autoreply automated system calendar`)

var businessLocals = set(`advertising ads adsales ad-sales sales billing accounts invoices invoice subscriptions
	subscribe subscriber subscribers customerservice customer-service customer.service customercare
	customer-care support help helpdesk service services events marketing partnerships careers jobs
	recruiting hr privacy legal licensing permissions syndication reprints store shop membership members
	donate donations fundraising webmaster admin info contact hello enquiries inquiries sponsorship
	media-sales mediakit promotions offers deals`)

func set(words string) map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(words) {
		m[w] = true
	}
	return m
}
