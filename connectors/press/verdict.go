package press

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// class is what a correspondent's address is; higher is stronger evidence.
type class int

const (
	classFreemail class = iota
	classOther
	classMedia
	classTenantDomain
	classTenantAddress
)

// verdict is the judgement of one candidate correspondent.
type verdict struct {
	addr    Address
	box     mailbox
	class   class
	base    float64
	hits    []hit
	noCues  bool // cues may not qualify this sender on their own
	reasons []string
	matched []string
	score   float64
}

// cueOnly records that cues cannot make this candidate press on their own.
func (v *verdict) cueOnly(why string) {
	v.noCues = true
	v.reasons = append(v.reasons, why)
}

// internal marks a sender on the account's side: whatever the domain and
// the cues, mail among colleagues is not correspondence with a journalist
// (also at a media company, where every colleague is at a media domain).
func (v *verdict) internal(own owner) {
	why := "internal sender: the account's own address"
	if v.box.key() != own.key {
		why = "internal sender: the organisation's domain " + v.box.domain
	}
	v.class, v.base, v.matched = classOther, -1, nil
	v.cueOnly(why)
}

// judge evaluates one address against the tenant's contacts, the curated
// lists and the cues of the subject and of its display name.
func (d *Detector) judge(a Address, box mailbox, subjectHits []hit, tc tenantConfig) verdict {
	v := verdict{addr: a, box: box, class: classOther, base: baseOther}
	switch o, media := d.t.outlet(box.domain); {
	case tc.addresses[box.key()] != "":
		configured := tc.addresses[box.key()]
		v.class, v.base = classTenantAddress, baseTenantAddress
		v.reasons = append(v.reasons, "tenant press address "+configured)
		v.matched = append(v.matched, configured)
	case tc.domain(box.domain) != "":
		dom := tc.domain(box.domain)
		v.class, v.base = classTenantDomain, baseTenantDomain
		v.reasons = append(v.reasons, "tenant press domain "+dom)
		v.matched = append(v.matched, dom)
	case d.t.isFreemail(box.domain):
		v.class, v.base = classFreemail, baseFreemail
		v.reasons = append(v.reasons, "freemail domain "+box.domain+" (needs a stronger cue)")
	case media:
		v.class, v.base = classMedia, baseMedia
		v.reasons = append(v.reasons, fmt.Sprintf("media domain %s (%s)", o.Domain, o.Name))
		v.matched = append(v.matched, o.Domain)
	}
	if v.class != classTenantAddress {
		if role := mailboxRole(box.local); role == roleAutomated {
			v.reasons = append(v.reasons, "automated sender "+box.local+"@")
			v.class, v.base, v.noCues, v.matched = classOther, -1, true, nil
		} else if role == roleBusiness && v.class >= classMedia {
			v.reasons = append(v.reasons, "non-editorial mailbox "+box.local+"@")
			v.class, v.base, v.matched = classOther, baseOther, nil
		}
	}
	if v.class <= classOther && v.base > -1 {
		if o, ok := d.t.edition(box.domain); ok {
			v.reasons = append(v.reasons, fmt.Sprintf("edition of media domain %s (%s) not on the list: judged as an unlisted domain", o.Domain, o.Name))
		}
		if o, ok := d.t.lookalike(box.domain); ok {
			v.cueOnly(fmt.Sprintf("look-alike of media domain %s (%s)", o.Domain, o.Name))
		} else if o, ok := d.t.claimedOutlet(a.Name); ok {
			v.cueOnly(fmt.Sprintf("display name claims %s but the address is not at a media domain", o.Name))
		} else if o, ok := d.t.outletInName(a.Name); ok && imitates(box.domain, o) {
			// "Jane Doe | Reuters" from reuters-news.com or reutеrs.co:
			// the outlet's name would qualify the address imitating it.
			v.cueOnly(fmt.Sprintf("look-alike of media domain %s (%s), named in the display name", o.Domain, o.Name))
		}
	}
	v.hits = append(v.hits, subjectHits...)
	if w := localCue(box.local); w != "" {
		v.hits = append(v.hits, hit{phrase: "local:" + w, weight: mediumCue})
	}
	for _, h := range nameCues.match(a.Name) {
		v.hits = append(v.hits, hit{phrase: "name:" + h.phrase, weight: h.weight})
	}
	if o, ok := d.t.outletInName(a.Name); ok {
		v.hits = append(v.hits, hit{phrase: "outlet:" + o.Name, weight: strongCue})
	}
	return v
}

// finish computes the score and the cue reasons.
func (v *verdict) finish() {
	pos, neg := sum(v.hits)
	if v.noCues && v.class <= classOther {
		pos = 0
	}
	for _, h := range v.hits {
		v.reasons = append(v.reasons, cueReason(h))
	}
	if len(v.reasons) == 0 {
		v.reasons = append(v.reasons, "no press signal: "+v.box.domain+" is not a media domain and there is no cue")
	}
	v.score = min(max(v.base+pos+neg, 0), 1)
	// Round so scores print and compare cleanly (0.6 stays 0.6).
	v.score = float64(int(v.score*100+0.5)) / 100
}

func cueReason(h hit) string {
	kind, phrase := "subject cue", h.phrase
	if p, ok := strings.CutPrefix(phrase, "name:"); ok {
		kind, phrase = "display name cue", p
	} else if p, ok := strings.CutPrefix(phrase, "outlet:"); ok {
		kind, phrase = "display name names outlet", p
	} else if p, ok := strings.CutPrefix(phrase, "local:"); ok {
		kind, phrase = "address cue", p
	}
	if h.weight < 0 {
		kind = "counter " + kind
	}
	return fmt.Sprintf("%s %q", kind, phrase)
}

// isForward reports whether a subject marks a forwarded message ("Fwd:",
// "WG:", "TR:", "RV:", "I:", "Doorst:", "转发:"), also after "Re:"s and
// after the tags mail gateways and lists put in front ("[EXTERNAL]",
// "CAUTION:", "[team]"), and inside an old-style "[Fwd: …]".
func isForward(subject string) bool {
	s := strings.TrimSpace(subject)
	for range 6 {
		s = stripTags(s)
		i := strings.IndexAny(s, ":：")
		if i <= 0 || i > 12 {
			return false
		}
		_, w := utf8.DecodeRuneInString(s[i:])
		prefix := strings.ToLower(strings.TrimSpace(s[:i]))
		prefix = strings.TrimRight(prefix, "0123456789[]() ")
		if forwardPrefixes[prefix] {
			return true
		}
		if !replyPrefixes[prefix] {
			return false
		}
		s = strings.TrimSpace(s[i+w:])
	}
	return false
}

// maxTag is the longest leading bracketed tag stripTags drops.
const maxTag = 40

// stripTags drops the tags in front of a subject: bracketed ones without a
// colon ("[EXTERNAL]", "[Ext]", "[External Sender]", "[acme-team]"), the
// "[" of an old-style "[Fwd: …]", and gateway words before a colon
// ("EXTERNAL:", "CAUTION:").
func stripTags(s string) string {
	for {
		s = strings.TrimSpace(s)
		if strings.HasPrefix(s, "[") {
			end := strings.IndexByte(s, ']')
			if end < 0 || end > maxTag || strings.ContainsAny(s[:end], ":：") {
				return strings.TrimSpace(s[1:])
			}
			s = s[end+1:]
			continue
		}
		word, rest, ok := strings.Cut(s, ":")
		if !ok || !gatewayTags[strings.ToLower(strings.TrimSpace(word))] {
			return s
		}
		s = rest
	}
}

// gatewayTags are the words mail gateways put in front of a subject from
// outside the organisation, followed by a colon.
var gatewayTags = map[string]bool{
	"external": true, "ext": true, "external sender": true, "external email": true, "external mail": true,
	"caution": true, "caution external": true, "warning": true, "extern": true, "externe": true, "externo": true,
	"suspicious": true, "spam": true,
}

// forwardPrefixes are "forwarded" subject prefixes of common mail clients
// in the languages the cue tables cover.
var forwardPrefixes = map[string]bool{
	"fwd": true, "fw": true, "wg": true, "tr": true, "rv": true, "i": true, "enc": true,
	"doorst": true, "vb": true, "vs": true, "pd": true, "转发": true, "轉寄": true, "転送": true,
	"전달": true, "пересл": true,
}

// replyPrefixes are "reply" prefixes, skipped to find a forward behind them.
var replyPrefixes = map[string]bool{
	"re": true, "aw": true, "sv": true, "antw": true, "r": true, "ris": true, "res": true, "odp": true,
	"ynt": true, "回复": true, "回覆": true, "答复": true, "返信": true, "회신": true, "답장": true,
}
