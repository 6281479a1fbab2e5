package press

import (
	"cmp"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// Address is a mailbox: display name and address.
type Address struct{ Name, Email string }

// Message is what a mail connector knows of one message, from headers only.
type Message struct {
	From    Address
	To, Cc  []Address
	Subject string
	// Outbound is true for a message the connected account sent.
	Outbound bool
	// Mailing-list headers: lists and newsletters are never press
	// correspondence, unless the list is the organisation's own (a
	// press@ Google Group at the account's domain), which relays what
	// outsiders write to it.
	ListID, ListUnsubscribe, Precedence string
	// ReplyTo and OriginalFrom (X-Original-From) name the sender when a
	// list of the organisation's rewrote From to its own address ("'Jane
	// Doe' via Press <press@…>", as Google Groups does for a sender whose
	// domain has a strict DMARC policy); read only then.
	ReplyTo      []Address
	OriginalFrom Address
	// AutoSubmitted is the Auto-Submitted header (RFC 3834): anything but
	// "no" (auto-replied, auto-generated, …) was sent by a machine.
	AutoSubmitted string
	// Account is the connected mailbox's own address (Gmail: the profile's
	// address; Zoho Mail: the account's primary address). Mail from its
	// domain is internal, and neither it nor its domain is ever the
	// correspondent; at a freemail domain only the address itself is
	// the account's. Empty: an outbound message's From stands for it, and
	// inbound mail is never taken for internal.
	Account string
}

// Config holds a tenant's own press contacts (connection config and, later, tenant settings).
// The JSON tags let a connection config embed it as {"domains": […], "addresses": […]}.
type Config struct {
	Domains   []string `json:"domains,omitempty"`   // "nytimes.com" also matches subdomains
	Addresses []string `json:"addresses,omitempty"` // "jane.doe@freelance.example"
}

// Result says whether a message is correspondence with a journalist, why, and with whom.
type Result struct {
	Press bool
	Score float64 // 0..1; Press is Score >= Threshold
	// Reasons explain the decision either way: "media domain reuters.com
	// (Reuters)", "subject cue \"for comment\"", "mailing list (List-Id)".
	Reasons []string
	// Correspondent is the journalist's side: From when inbound, the
	// matching To/Cc when outbound. It is the party that was judged, also
	// when Press is false; zero when there was none (a mailing list).
	Correspondent Address
	// Matched lists the curated or tenant domains and tenant addresses that
	// matched (email.press_thread "matched").
	Matched []string
}

// Threshold is the Score from which a message counts as press correspondence.
const Threshold = 0.6

// Base scores by what the correspondent's address is. A curated media
// domain or a tenant contact qualifies on its own; an unknown domain needs
// a strong subject cue (or two weaker ones); a freemail address needs more
// than that, because anyone can write from one.
const (
	baseTenantAddress = 0.95
	baseTenantDomain  = 0.9
	baseMedia         = 0.75
	baseOther         = 0
	baseFreemail      = -0.25
)

// Detector holds the curated media list. It is safe for concurrent use.
type Detector struct{ t *tables }

// New returns a detector with the built-in curated list. The list is parsed
// once per process; a malformed embedded list is a build defect and panics
// (TestEmbeddedLists keeps that from shipping).
func New() *Detector {
	t, err := loadTables()
	if err != nil {
		panic(err)
	}
	return &Detector{t: t}
}

// Outlets returns the curated media list.
func (d *Detector) Outlets() []Outlet { return append([]Outlet(nil), d.t.outlets...) }

// Outlet returns the curated outlet an address or domain belongs to.
func (d *Detector) Outlet(emailOrDomain string) (Outlet, bool) {
	s := emailOrDomain
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		s = s[i+1:]
	}
	dom, ok := canonDomain(s)
	if !ok {
		return Outlet{}, false
	}
	return d.t.outlet(dom)
}

// Detect judges one message from its headers. It is pure and cheap: call it
// for every message a mail connector reads, inbound and outbound, and emit
// email.press_thread for the first message of a thread it qualifies (see
// docs/press-detection.md).
//
// Inbound, the sender is judged; outbound, every external To/Cc recipient
// is and the best one is the correspondent. Mailing lists and newsletters
// (List-Id, List-Unsubscribe, Precedence bulk/list/junk) never qualify,
// but for a list of the organisation's own (a press@ Google Group), whose
// mail is judged by its sender (see listReason and rewrittenSender).
func (d *Detector) Detect(m Message, cfg Config) Result {
	tc := compileConfig(cfg)
	own := d.ownerOf(m, tc)
	group := own.list(m.ListID)
	if why := cmp.Or(listReason(m, group, own), autoReason(m), autoReplySubject(m.Subject)); why != "" {
		return Result{Reasons: []string{why}}
	}
	subject := DecodeHeader(m.Subject)
	subjectHits := subjectCues.match(subject)
	forwarded := isForward(subject)

	var candidates []Address
	var why []string // how the sender was found, before the verdict's reasons
	if group != "" {
		why = append(why, "through the organisation's own list "+group+": judged by its sender")
	}
	if m.Outbound {
		candidates = append(append(candidates, m.To...), m.Cc...)
	} else {
		from := m.From
		if sender, header, ok := own.rewrittenSender(m, group); ok {
			from = sender
			why = append(why, "From rewritten by the list: the sender is in "+header)
		}
		candidates = []Address{from}
	}

	var best *verdict
	var matched []string
	for _, a := range candidates {
		box, ok := canonMailbox(a.Email)
		if !ok {
			continue
		}
		if m.Outbound && own.has(box) {
			continue // the account or a colleague on the message, not a correspondent
		}
		v := d.judge(a, box, subjectHits, tc)
		switch {
		case own.has(box):
			v.internal(own)
		case v.class <= classOther && forwarded:
			v.cueOnly("forwarded message: the sender is not the original correspondent")
		}
		v.finish()
		if v.score >= Threshold {
			for _, x := range v.matched {
				matched = appendNew(matched, x)
			}
		}
		if best == nil || v.score > best.score {
			best = &v
		}
	}
	if best == nil {
		return Result{Reasons: []string{"no usable correspondent address"}}
	}
	r := Result{
		Press:         best.score >= Threshold,
		Score:         best.score,
		Reasons:       append(why, best.reasons...),
		Correspondent: best.addr,
	}
	if r.Press {
		r.Matched = append(append([]string(nil), best.matched...), matched...)
		r.Matched = dedupe(r.Matched)
	}
	return r
}

// listReason says why a message is a mailing-list or bulk message, or "".
// Newsletters from media outlets carry these too: bulk senders must send
// List-Unsubscribe to reach Gmail and Yahoo inboxes since 2024. A list of
// the organisation's own (group, see owner.list) is no bulk mail: a
// journalist writing to press@ the company's domain, a Google Group,
// reaches the account through it, and the group adds its List-Id, its
// List-Unsubscribe and Precedence: list to what it relays. A
// List-Unsubscribe that leads elsewhere (a newsletter's own, kept beside
// the group's) and Precedence: bulk or junk still say bulk.
func listReason(m Message, group string, own owner) string {
	switch {
	case strings.TrimSpace(m.ListID) != "" && group == "":
		return "mailing list (List-Id)"
	case strings.TrimSpace(m.ListUnsubscribe) != "" && (group == "" || !own.listUnsubscribe(m.ListUnsubscribe)):
		return "newsletter or bulk mail (List-Unsubscribe)"
	}
	switch p := strings.ToLower(strings.TrimSpace(m.Precedence)); p {
	case "list":
		if group != "" {
			return ""
		}
		fallthrough
	case "bulk", "junk":
		return fmt.Sprintf("bulk mail (Precedence: %s)", p)
	}
	return ""
}

// under reports whether a canonical domain is one of the organisation's
// domains or a subdomain of one (lists.acme-robotics.example).
func (o owner) under(domain string) bool {
	return slices.ContainsFunc(o.domains, func(d string) bool { return domain == d || strings.HasSuffix(domain, "."+d) })
}

// list returns the id of a List-Id naming a list of the organisation's
// own ("<press.acme-robotics.example>", Google Groups' form for the group
// press@acme-robotics.example; RFC 2919 ids end with a domain of the list's
// owner): one under the account's domain or an alias domain the message
// shows, in canonical form; "" for any other list, and when the account is
// not known (its domain is then no one's).
func (o owner) list(listID string) string {
	id := strings.TrimSpace(listID)
	if i := strings.LastIndexByte(id, '<'); i >= 0 {
		id, _, _ = strings.Cut(id[i+1:], ">")
	}
	if c, ok := canonDomain(id); ok && o.key != "" && strings.Contains(c, ".") && o.under(parentDomain(c)) {
		return c
	}
	return ""
}

// listUnsubscribe reports whether every target of a List-Unsubscribe is
// the organisation's own list's: a mailto: or web address at one of its
// domains, or Google Groups' (googlegroups.com, groups.google.com).
func (o owner) listUnsubscribe(v string) bool {
	targets := 0
	for _, part := range strings.Split(v, ",") {
		part = strings.Trim(strings.TrimSpace(part), "<>")
		if part == "" {
			continue
		}
		targets++
		var host string
		if addr, ok := strings.CutPrefix(strings.ToLower(part), "mailto:"); ok {
			addr, _, _ = strings.Cut(addr, "?")
			_, host, _ = strings.Cut(addr, "@")
		} else if u, err := url.Parse(part); err == nil {
			host = u.Hostname()
		}
		h, ok := canonDomain(host)
		if !ok {
			return false
		}
		if _, google := inDomains(h, groupHosts); !google && !o.under(h) {
			return false
		}
	}
	return targets > 0
}

// groupHosts are where Google Groups' unsubscribe addresses lead.
var groupHosts = map[string]bool{"googlegroups.com": true, "groups.google.com": true}

// rewrittenSender returns who wrote an inbound message whose From a list
// of the organisation's rewrote to its own address: From is at one of the
// organisation's domains, and is the address of the list the message came
// through (press@acme-robotics.example for the List-Id
// press.acme-robotics.example, group) or has the rewritten form's display
// name ("'Jane Doe' via Press"). The sender is X-Original-From when the
// list wrote one (Google Groups does), else the first Reply-To address;
// one outside the organisation only. A colleague writing through the group
// keeps her own From and stays the sender, whatever her Reply-To. header
// names where the sender was found.
func (o owner) rewrittenSender(m Message, group string) (Address, string, bool) {
	box, ok := canonMailbox(m.From.Email)
	if !ok || !o.under(box.domain) || (box.local+"."+box.domain != group && !viaName(m.From.Name)) {
		return Address{}, "", false
	}
	outside := func(a Address) bool {
		b, ok := canonMailbox(a.Email)
		return ok && !o.has(b) && !o.under(b.domain)
	}
	switch {
	case m.OriginalFrom.Email != "":
		if outside(m.OriginalFrom) {
			return m.OriginalFrom, "X-Original-From", true
		}
	case len(m.ReplyTo) > 0 && outside(m.ReplyTo[0]):
		return m.ReplyTo[0], "Reply-To", true
	}
	return Address{}, "", false
}

// viaName reports whether a display name has the form lists rewrite From
// to: "'Jane Doe' via Press" (Google Groups), "Jane Doe via Press".
func viaName(name string) bool {
	before, after, ok := strings.Cut(name, " via ")
	return ok && strings.TrimSpace(strings.Trim(before, `'"`)) != "" && strings.TrimSpace(after) != ""
}

// owner is the connected account's side of a message: its address and,
// unless they are freemail, its domain and the organisation's other
// domains the message shows.
type owner struct {
	key     string   // the account's mailbox key; "" when unknown
	domain  string   // the account's domain; "" when unknown or freemail
	domains []string // domain, and alias domains (see ownerOf)
}

// ownerOf returns the account's side: Message.Account, or the From of an
// outbound message when the connector did not say. The account's own local
// part at another (non-freemail) domain shows the account under a domain
// alias (pat.lee@acme-robotics.io for pat.lee@acme-robotics.example): that
// domain is the organisation's too. Only the From of an outbound message
// (sent from the alias) and the recipients show one, and the recipients of
// inbound mail only when the account's own address is not among them (mail
// to the alias): a reporter who writes to sarah@startup.example and copies
// her colleague sarah@techcrunch.com is not the organisation writing. A
// curated media domain, a tenant press domain and a tenant press address
// never show one: first-name addresses are common at outlets too.
// With no account known, an inbound message's recipients' non-freemail
// domains are taken for the organisation's (a sender sharing one is a
// colleague, the rule before connectors told the account).
func (d *Detector) ownerOf(m Message, tc tenantConfig) owner {
	addr := m.Account
	if strings.TrimSpace(addr) == "" && m.Outbound {
		addr = m.From.Email
	}
	recipients := append(append([]Address(nil), m.To...), m.Cc...)
	box, ok := canonMailbox(addr)
	if !ok {
		var o owner
		if !m.Outbound {
			for _, a := range recipients {
				if r, ok := canonMailbox(a.Email); ok && !d.t.isFreemail(r.domain) {
					o.domains = appendNew(o.domains, r.domain)
				}
			}
		}
		return o
	}
	o := owner{key: box.key()}
	if !d.t.isFreemail(box.domain) {
		o.domain = box.domain
		o.domains = []string{box.domain}
	}
	shown := recipients
	switch {
	case m.Outbound:
		shown = append(shown, m.From)
	case slices.ContainsFunc(recipients, o.isAccount):
		shown = nil // it reached the account's own address, not an alias
	}
	for _, a := range shown {
		if r, ok := canonMailbox(a.Email); ok && r.local == box.local && r.domain != box.domain && d.aliasDomain(r, tc) {
			o.domains = appendNew(o.domains, r.domain)
		}
	}
	return o
}

// aliasDomain reports whether a mailbox sharing the account's local part
// may show an alias domain of the organisation: not at a freemail, curated
// media or tenant press domain, and not a tenant press address.
func (d *Detector) aliasDomain(r mailbox, tc tenantConfig) bool {
	if d.t.isFreemail(r.domain) || tc.domain(r.domain) != "" || tc.addresses[r.key()] != "" {
		return false
	}
	_, media := d.t.outlet(r.domain)
	return !media
}

// isAccount reports whether an address is the account's own.
func (o owner) isAccount(a Address) bool {
	box, ok := canonMailbox(a.Email)
	return ok && o.key != "" && box.key() == o.key
}

// has reports whether a mailbox is the account or at one of its domains.
func (o owner) has(box mailbox) bool {
	return (o.key != "" && box.key() == o.key) || slices.Contains(o.domains, box.domain)
}

// autoReason says why a message was sent by a machine, or "": RFC 3834 §5
// has an automatic responder set Auto-Submitted to anything but "no"
// (parameters after a ";" aside). The field allows comments around the
// value ("no (sent by a person)"), which say nothing about it.
func autoReason(m Message) string {
	v, _, _ := strings.Cut(stripComments(m.AutoSubmitted), ";")
	switch v = strings.ToLower(strings.TrimSpace(v)); v {
	case "", "no":
		return ""
	}
	return fmt.Sprintf("automatic message (Auto-Submitted: %s)", v)
}

// autoReplySubject says why a subject is an auto-reply's, or "": it starts
// with the prefix Outlook, Exchange and others write ("Automatic reply:",
// "Out of Office:", "Abwesenheitsnotiz:"), for responders that set no
// Auto-Submitted. The subject they quote would otherwise count.
func autoReplySubject(subject string) string {
	s := stripTags(DecodeHeader(subject))
	i := strings.IndexAny(s, ":：")
	if i <= 0 || i > 40 {
		return ""
	}
	if p := strings.TrimSpace(fold(s[:i])); autoReplyPrefixes[p] {
		return fmt.Sprintf("automatic reply (subject %q)", strings.TrimSpace(s[:i]))
	}
	return ""
}

// autoReplyPrefixes are auto-reply subject prefixes, folded as fold does.
var autoReplyPrefixes = map[string]bool{
	"automatic reply": true, "auto reply": true, "autoreply": true, "auto response": true,
	"out of office": true, "out of office autoreply": true, "out of the office": true,
	"abwesenheitsnotiz": true, "automatische antwort": true, "reponse automatique": true, "absence": true,
	"respuesta automatica": true, "fuera de la oficina": true, "resposta automatica": true, "ausente": true,
	"risposta automatica": true, "fuori sede": true, "automatisch antwoord": true, "afwezig": true,
	"autosvar": true, "automatisk svar": true, "franvaro": true,
}

func appendNew(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

func dedupe(list []string) []string {
	var out []string
	for _, s := range list {
		out = appendNew(out, s)
	}
	return out
}
