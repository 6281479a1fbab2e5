package press

import "strings"

// Impersonation checks. A look-alike domain must not match the outlet it
// imitates (the suffix walk in tables.outlet sees to that), and it must not
// pass on cues either: "Request for comment" from reuters.com.press-desk.net
// is a phishing pattern, not a journalist at an outlet missing from the list.

// minLookalikeLabel is the shortest first label of a listed domain that may
// be glued to other text and still count as a look-alike ("notreuters.com"):
// shorter ones occur inside unrelated names ("microsoft.com" holds "ft.com",
// "bad.nl" holds "ad.nl"). At a label boundary every length counts
// ("wsj.com.account-verify.example").
const minLookalikeLabel = 6

// lookalike returns the outlet whose domain a domain embeds without being it
// or a subdomain of it: reuters.com.evil.example, notreuters.com,
// nytimes.com-secure.net, wsj.com.account-verify.example.
func (t *tables) lookalike(domain string) (Outlet, bool) {
	for _, o := range t.outlets {
		i := strings.Index(domain, o.Domain)
		if i < 0 || domain == o.Domain || strings.HasSuffix(domain, "."+o.Domain) {
			continue
		}
		label, _, _ := strings.Cut(o.Domain, ".")
		if len(label) >= minLookalikeLabel || atLabelStart(domain, o.Domain) {
			return o, true
		}
	}
	return Outlet{}, false
}

// atLabelStart reports whether sub occurs in domain starting at a label.
func atLabelStart(domain, sub string) bool {
	return strings.HasPrefix(domain, sub) || strings.Contains(domain, "."+sub)
}

// claimedOutlet returns the outlet a display name presents itself as: its
// first part is an outlet's name ("The Guardian", "Bloomberg News") or
// starts with a distinctive one ("Reuters Editorial", "Spiegel Redaktion").
// A person signing "Jane Doe | Reuters" is not claiming to be Reuters; that
// is outletInName's positive cue.
func (t *tables) claimedOutlet(name string) (Outlet, bool) {
	first, _, _ := strings.Cut(nameSeparators.Replace(name), "\x00")
	k := strings.TrimSpace(fold(first))
	if k == "" {
		return Outlet{}, false
	}
	if d, ok := t.names[k]; ok {
		return t.outlets[t.media[d]], true
	}
	for n, d := range t.names {
		if (len(n) >= minLookalikeLabel || strings.Contains(n, " ")) && strings.HasPrefix(k, n+" ") {
			return t.outlets[t.media[d]], true
		}
	}
	return Outlet{}, false
}

// localRoleWords are role words that journalists put in the local part of a
// personal address ("lina_reporter@163.com", "tomas.ruiz.periodista@…").
var localRoleWords = []string{
	"journalist", "reporter", "periodista", "jornalista", "giornalista", "redakteur", "redaktion",
	"redaccion", "redacao", "redazione", "redactie", "correspondent", "corresponsal", "newsdesk", "newsroom",
}

// localCue returns the role word in a local part, or "".
func localCue(local string) string {
	for _, w := range localRoleWords {
		if strings.Contains(local, w) {
			return w
		}
	}
	return ""
}
