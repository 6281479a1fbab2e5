package press

import (
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func in(name, email, subject string) Message {
	return Message{From: Address{Name: name, Email: email}, To: []Address{{Name: "Pat Lee", Email: "pat.lee@acme-robotics.example"}}, Subject: subject,
		Account: "pat.lee@acme-robotics.example"}
}

func TestDetectRules(t *testing.T) {
	t.Parallel()
	d := New()
	tenant := Config{Domains: []string{"localgazette.example"}, Addresses: []string{"Sam Freelance <sam.freelance@gmail.com>"}}
	cases := []struct {
		name    string
		m       Message
		cfg     Config
		press   bool
		reason  string // a substring one of the reasons must contain
		matched []string
	}{
		{"media domain alone", in("Jane Doe", "jane.doe@reuters.com", "Quick question"), Config{}, true, "media domain reuters.com (Reuters)", []string{"reuters.com"}},
		{"subdomain of an outlet", in("Desk", "desk@newsroom.reuters.com", "Hello"), Config{}, true, "media domain reuters.com", []string{"reuters.com"}},
		{"mixed case", in("Jane", "Jane.Doe@NYTimes.COM", "Hi"), Config{}, true, "media domain nytimes.com", []string{"nytimes.com"}},
		{"look-alike suffix", in("Jane", "jane@reuters.com.evil.example", "Quick question"), Config{}, false, "", nil},
		{"look-alike prefix", in("Jane", "jane@notreuters.com", "Quick question"), Config{}, false, "", nil},
		{"homoglyph (Cyrillic e)", in("Jane", "jane@reutеrs.com", "Quick question"), Config{}, false, "", nil},
		{"internationalized domain in Unicode and Punycode", in("Anna", "anna@XN--BCHER-KVA.example", "Hallo"), Config{Domains: []string{"bücher.example"}}, true, "tenant press domain xn--bcher-kva.example", []string{"xn--bcher-kva.example"}},
		{"tenant address via gmail dots and +tag", in("Sam", "samfreelance+pitch@gmail.com", "Hi again"), tenant, true, "tenant press address", []string{"sam.freelance@gmail.com"}},
		{"tenant domain subdomain", in("Ed", "ed@news.localgazette.example", "Hi"), tenant, true, "tenant press domain localgazette.example", []string{"localgazette.example"}},
		{"unknown domain, strong cue", in("Max", "max@stadtblatt.example", "Presseanfrage: Stellenabbau in Werk 2"), Config{}, true, `subject cue "presseanfrage"`, nil},
		{"unknown domain, weak cue only", in("Max", "max@vendor.example", "Deadline for the Q3 report"), Config{}, false, "", nil},
		{"freemail, strong cue alone is not enough", in("Jo", "jo@gmail.com", "Request for comment"), Config{}, false, "freemail domain gmail.com", nil},
		{"freemail, strong plus weak cue", in("Jo", "jo@gmail.com", "Request for comment, deadline 5pm"), Config{}, true, `subject cue "request for comment"`, nil},
		{"freemail, outlet in display name plus cue", in("Jo Lane | The Guardian", "jo.lane@outlook.com", "Interview for a piece on remote work"), Config{}, true, `display name names outlet "The Guardian"`, nil},
		{"freemail, job interview", in("Candidate", "cand@yahoo.co.uk", "Interview request for the Senior Engineer vacancy"), Config{}, false, "", nil},
		{"newsletter from an outlet", Message{From: Address{Email: "nytdirect@nytimes.com"}, Subject: "The Morning", ListUnsubscribe: "<mailto:u@nytimes.com>"}, Config{}, false, "List-Unsubscribe", nil},
		{"list mail", Message{From: Address{Email: "jane@reuters.com"}, Subject: "Press inquiry", ListID: "<press.lists.example>"}, Config{}, false, "List-Id", nil},
		{"bulk precedence", Message{From: Address{Email: "jane@reuters.com"}, Subject: "Hi", Precedence: " Bulk "}, Config{}, false, "Precedence: bulk", nil},
		{"automated sender at outlet", in("WSJ", "no-reply@wsj.com", "Your account"), Config{}, false, "automated sender", nil},
		{"business mailbox at outlet", in("Forbes", "advertising@forbes.com", "Reach PR leaders in Forbes"), Config{}, false, "non-editorial mailbox", nil},
		{"internal colleague with cue", Message{From: Address{Email: "kim@acme-robotics.example"}, To: []Address{{Email: "pat.lee@acme-robotics.example"}}, Subject: "Press inquiry prep", Account: "pat.lee@acme-robotics.example"}, Config{}, false, "internal sender", nil},
		{"forwarded by an agency", in("Agency", "lee@pr-agency.example", "Fwd: Media request: robotics feature"), Config{}, false, "forwarded", nil},
		{"forward behind a gateway tag", in("Lee Park", "lee@pr-agency.example", "[EXTERNAL] Fwd: Request for comment from Reuters"), Config{}, false, "forwarded", nil},
		{"outbound reply to a journalist", Message{From: Address{Email: "pat.lee@acme-robotics.example"}, To: []Address{{Email: "kim@acme-robotics.example"}, {Name: "Jane Doe", Email: "jane.doe@ft.com"}}, Outbound: true, Subject: "Re: Your questions"}, Config{}, true, "media domain ft.com", []string{"ft.com"}},
		{"outbound to colleagues only", Message{From: Address{Email: "pat.lee@acme-robotics.example"}, To: []Address{{Email: "kim@acme-robotics.example"}}, Outbound: true, Subject: "Press inquiry from Reuters"}, Config{}, false, "no usable correspondent", nil},
		{"Japanese request", in("田中", "tanaka@asahi.com", "取材依頼"), Config{}, true, `subject cue "取材依頼"`, []string{"asahi.com"}},
		{"Spanish without accents", in("Lucía", "lucia@diario-local.example", "Peticion de entrevista para un reportaje sobre energia"), Config{}, true, `subject cue "peticion de entrevista"`, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := c.cfg
			r := d.Detect(c.m, cfg)
			require.Equal(t, c.press, r.Press, "reasons: %q score %v", r.Reasons, r.Score)
			require.Equal(t, r.Press, r.Score >= Threshold)
			require.True(t, r.Score >= 0 && r.Score <= 1, "score %v", r.Score)
			if c.reason != "" {
				require.True(t, slices.ContainsFunc(r.Reasons, func(s string) bool { return strings.Contains(s, c.reason) }), "reasons %q lack %q", r.Reasons, c.reason)
			}
			require.Equal(t, c.matched, r.Matched)
		})
	}
}

func TestDetectCorrespondent(t *testing.T) {
	t.Parallel()
	d := New()
	r := d.Detect(Message{
		From:     Address{Name: "Pat", Email: "pat@acme.example"},
		To:       []Address{{Name: "Kim", Email: "kim@acme.example"}, {Name: "Vendor", Email: "ops@vendor.example"}},
		Cc:       []Address{{Name: "Jane Doe", Email: "jane@bloomberg.net"}, {Name: "Ann Lee", Email: "ann.lee@ft.com"}},
		Outbound: true,
		Subject:  "Re: Request for comment",
	}, Config{})
	require.True(t, r.Press)
	require.Equal(t, Address{Name: "Jane Doe", Email: "jane@bloomberg.net"}, r.Correspondent, "the first best-scoring recipient")
	require.Equal(t, []string{"bloomberg.net", "ft.com"}, r.Matched, "every journalist recipient's outlet")

	r = d.Detect(in("Jane", "jane@reuters.com", "Hi"), Config{})
	require.Equal(t, Address{Name: "Jane", Email: "jane@reuters.com"}, r.Correspondent, "inbound: the sender")
}

func TestLookalikes(t *testing.T) {
	t.Parallel()
	d := New()
	for _, dom := range []string{
		"reuters.com.evil.example", "nytimes.com-secure.net", "reuters.com.de", // labels or a hyphen after, a private suffix
		"wsj.com.account-verify.example", "ft.com-login.example", "mail.ap.org.example", // short names too
		"secure-reuters.com", "press-bloomberg.com", "mail-nytimes.com", "desk-reuters.com.example", // a hyphen before
	} {
		r := d.Detect(in("Reporter", "reporter@"+dom, "Request for comment: interview request"), Config{})
		require.False(t, r.Press, "%s: %q", dom, r.Reasons)
		require.True(t, slices.ContainsFunc(r.Reasons, func(s string) bool { return strings.HasPrefix(s, "look-alike of media domain") }), "%s: %q", dom, r.Reasons)
	}
	// Other names: "ft.com", "ad.nl", "nature.com", "reuters.com" glued to
	// text in front are not at a label start.
	for _, dom := range []string{"microsoft.com", "bad.nl", "soft.com", "signature.com", "notreuters.com"} {
		r := d.Detect(in("Kim", "kim@"+dom, "Press inquiry"), Config{})
		require.True(t, r.Press, "%s: %q", dom, r.Reasons)
	}
	// Homoglyphs: labels whose Cyrillic or Greek letters read as Latin
	// ones make a listed domain, written in Unicode or in Punycode.
	for dom, outlet := range map[string]string{
		"reutеrs.com":                  "reuters.com", // Cyrillic е
		"xn--reutrs-6of.com":           "reuters.com", // the same, as the header may carry it
		"desk.reutеrs.com":             "reuters.com",
		"nytimes.cοm":                  "nytimes.com", // Greek ο in the suffix
		"ft.соm":                       "ft.com",      // Cyrillic о
		"reutеrs.com.evil.example":     "reuters.com",
		"secure-bloombеrg.com":         "bloomberg.com",
		"ԝѕј.com":                      "wsj.com", // Cyrillic ԝ, ѕ and ј
		"xn--bloombrg-h8g.net.example": "bloomberg.net",
	} {
		r := d.Detect(in("Jane Doe", "jane@"+dom, "Request for comment"), Config{})
		require.False(t, r.Press, "%s: %.2f %q", dom, r.Score, r.Reasons)
		require.True(t, slices.ContainsFunc(r.Reasons, func(s string) bool { return strings.HasPrefix(s, "look-alike of media domain "+outlet+" ") }),
			"%s: %q", dom, r.Reasons)
	}
	// An internationalized domain that is no homoglyph is any unlisted
	// domain: a cue qualifies it.
	for _, dom := range []string{"bücher.example", "zeitung-münchen.de", "εφημερίδα.gr", "газета.рф"} {
		r := d.Detect(in("Anna", "anna@"+dom, "Request for comment"), Config{})
		require.True(t, r.Press, "%s: %q", dom, r.Reasons)
	}
}

// TestOutletNamedFromALookalike: a display name that names an outlet
// ("Jane Doe | Reuters"), from an address that is not at the outlet's
// domain but at one made of its name (the name and a word, a homoglyph of
// it), is a look-alike: no cue qualifies it, the outlet's name included.
// The same signature from an address that does not imitate the outlet (a
// freelancer's own domain, a freemail one, a regional edition, which the
// outlet's name under any other suffix is taken for: reuters.co too, see
// TestEditionSignedWithItsOutlet) still counts.
func TestOutletNamedFromALookalike(t *testing.T) {
	t.Parallel()
	d := New()
	for from, outlet := range map[string]string{
		"Jane Doe | Reuters <jane@reutеrs.com>":               "reuters.com", // Cyrillic е
		"Jane Doe | Reuters <jane@reuters-news.com>":          "reuters.com",
		"Jane Doe | Reuters <jane@mail.reuters-news.co.uk>":   "reuters.com",
		"Jane Doe | Reuters <jane@thereutersdesk.example>":    "reuters.com",
		"Jane Doe (Bloomberg) <jane@bloomberg-news.net>":      "bloomberg.com",
		"Jane Doe - The New York Times <jane@nytimes-uk.com>": "nytimes.com",
		"Jane Doe | FT <jane@ft-news.example>":                "ft.com",
		"Jane Doe | Financial Times <jane@ftimes.example>":    "", // short names: a whole hyphen-separated word only
		"Jane Doe | Reuters <jane@janedoe.example>":           "",
		"Jane Doe | Reuters <jane.doe.reporter@gmail.com>":    "",
		"Jane Doe | Forbes <jane@forbes.com.mx>":              "", // an edition: judged as an unlisted domain
		"Jane Doe | Reuters <jane@reuters.co>":                "", // the name under another suffix: an edition
		"Jane Doe (Bloomberg) <jane@bloomberg.co>":            "",
		"Jane Doe - The New York Times <jane@nytimes.co.uk>":  "",
		"Jane Doe | FT <jane@ft.co>":                          "",
	} {
		a, ok := ParseAddress(from)
		require.True(t, ok, from)
		r := d.Detect(Message{From: a, To: []Address{{Email: "pat@acme.example"}}, Subject: "Quick question, interview request",
			Account: "pat@acme.example"}, Config{})
		if outlet == "" {
			require.True(t, r.Press, "%s: %.2f %q", from, r.Score, r.Reasons)
			require.False(t, slices.ContainsFunc(r.Reasons, func(s string) bool { return strings.HasPrefix(s, "look-alike") }), "%s: %q", from, r.Reasons)
			continue
		}
		require.False(t, r.Press, "%s: %.2f %q", from, r.Score, r.Reasons)
		require.True(t, slices.ContainsFunc(r.Reasons, func(s string) bool { return strings.HasPrefix(s, "look-alike of media domain "+outlet+" (") }),
			"%s: %q", from, r.Reasons)
	}
}

func TestHeaderMessage(t *testing.T) {
	t.Parallel()
	h := map[string]string{
		"From":             `=?UTF-8?Q?Luc=C3=ADa_Fern=C3=A1ndez?= <lfernandez@elpais.es>`,
		"To":               `"Ramírez, Sofía" <sramirez@grupo-andes.mx>, press@grupo-andes.mx`,
		"Subject":          `=?UTF-8?B?U29saWNpdHVkIGRlIGVudHJldmlzdGE=?=`,
		"List-Unsubscribe": "",
		"Received":         "ignored",
	}
	var asked []string
	m := HeaderMessage(func(name string) string { asked = append(asked, name); return h[name] }, false)
	require.Equal(t, Message{
		From:    Address{Name: "Lucía Fernández", Email: "lfernandez@elpais.es"},
		To:      []Address{{Name: "Ramírez, Sofía", Email: "sramirez@grupo-andes.mx"}, {Email: "press@grupo-andes.mx"}},
		Subject: "Solicitud de entrevista",
	}, m)
	require.ElementsMatch(t, Headers, asked, "HeaderMessage reads exactly the headers connectors are told to request")
	require.True(t, New().Detect(m, Config{}).Press)
}

// A colleague writing from one of the organisation's other domains (a
// domain alias: the account's own local part at another domain among the
// recipients) is internal, and with no account known, a sender sharing a
// recipient's non-freemail domain still is (the rule before the account
// was told).
func TestColleagueAtAnAliasDomain(t *testing.T) {
	t.Parallel()
	d := New()
	m := in("Kim", "kim@acme-robotics.io", "Press inquiry prep")
	m.To = []Address{{Email: "pat.lee@acme-robotics.io"}}
	m.Account = "pat.lee@acme-robotics.example"
	r := d.Detect(m, Config{})
	require.False(t, r.Press, "%q", r.Reasons)
	require.True(t, hasReason(r, "internal sender"), "%q", r.Reasons)

	m.Account = ""
	r = d.Detect(m, Config{})
	require.False(t, r.Press, "no account known: %q", r.Reasons)

	// The account known, a reporter copying a colleague at her outlet is
	// not internal.
	m = in("Jo", "jo@newsdesk.example", "Request for comment: Acme layoffs")
	m.To = []Address{{Email: "pat.lee@acme-robotics.example"}}
	m.Cc = []Address{{Email: "sam@newsdesk.example"}}
	m.Account = "pat.lee@acme-robotics.example"
	r = d.Detect(m, Config{})
	require.True(t, r.Press, "%q", r.Reasons)
}

// First-name and role addresses are common at startups and at outlets
// alike (sarah@startup.example, sarah@techcrunch.com): an address that
// merely shares the account's local part is not the organisation under an
// alias domain. The sender of inbound mail never shows one, nor does a
// curated media domain, a tenant press domain or a tenant press address;
// nor does a recipient of mail that reached the account's own address.
// The alias domain an outbound message is sent from still counts.
func TestNamesakeIsNotAnAliasDomain(t *testing.T) {
	t.Parallel()
	d := New()
	acct := Address{Name: "Sarah Lee", Email: "sarah@startup.example"}
	sarahTC := Address{Name: "Sarah Perez", Email: "sarah@techcrunch.com"}
	cases := []struct {
		name   string
		m      Message
		cfg    Config
		press  bool
		reason string
		corr   string // the correspondent, when press
	}{
		{"inbound from a journalist who shares the local part", Message{
			From: sarahTC, To: []Address{acct}, Subject: "Request for comment on your Series A",
		}, Config{}, true, "media domain techcrunch.com", "sarah@techcrunch.com"},
		{"inbound from a namesake at an unlisted outlet", Message{
			From: Address{Name: "Sarah Perez", Email: "sarah@valleyledger.example"}, To: []Address{acct}, Subject: "Request for comment on your Series A",
		}, Config{}, true, `subject cue "request for comment"`, "sarah@valleyledger.example"},
		{"a reporter copies a namesake colleague at her outlet", Message{
			From: Address{Name: "Ann Kim", Email: "ann@techcrunch.com"}, To: []Address{acct}, Cc: []Address{sarahTC},
			Subject: "Request for comment on your Series A",
		}, Config{}, true, "media domain techcrunch.com", "ann@techcrunch.com"},
		{"a reporter at an unlisted outlet copies a namesake colleague", Message{
			From: Address{Name: "Ann Kim", Email: "ann@valleyledger.example"}, To: []Address{acct},
			Cc: []Address{{Email: "sarah@valleyledger.example"}}, Subject: "Request for comment on your Series A",
		}, Config{}, true, `subject cue "request for comment"`, "ann@valleyledger.example"},
		{"the account replies to the namesake journalist", Message{
			From: acct, To: []Address{sarahTC}, Outbound: true, Subject: "Re: Request for comment on your Series A",
		}, Config{}, true, "media domain techcrunch.com", "sarah@techcrunch.com"},
		{"a tenant press address that shares the local part", Message{
			From: Address{Email: "sarah@freelance-desk.example"}, To: []Address{acct}, Subject: "Quick question",
		}, Config{Addresses: []string{"sarah@freelance-desk.example"}}, true, "tenant press address", "sarah@freelance-desk.example"},
		{"the account replies to a tenant press address that shares the local part", Message{
			From: acct, To: []Address{{Email: "sarah@freelance-desk.example"}}, Outbound: true, Subject: "Re: Quick question",
		}, Config{Addresses: []string{"sarah@freelance-desk.example"}}, true, "tenant press address", "sarah@freelance-desk.example"},
		{"the account replies to a namesake at a tenant press domain", Message{
			From: acct, To: []Address{{Email: "sarah@localgazette.example"}}, Outbound: true, Subject: "Re: Quick question",
		}, Config{Domains: []string{"localgazette.example"}}, true, "tenant press domain", "sarah@localgazette.example"},
		// Genuine aliases.
		{"sent from the alias domain: colleagues there are no correspondents", Message{
			From: Address{Email: "sarah@startup-alias.example"}, Outbound: true,
			To: []Address{{Email: "kim@startup-alias.example"}}, Subject: "Press inquiry prep",
		}, Config{}, false, "no usable correspondent", ""},
		{"sent from the alias domain to a journalist and a colleague there", Message{
			From: Address{Email: "sarah@startup-alias.example"}, Outbound: true,
			To: []Address{{Email: "kim@startup-alias.example"}, {Email: "jane@valleyledger.example"}}, Subject: "Re: Request for comment",
		}, Config{}, true, `subject cue "request for comment"`, "jane@valleyledger.example"},
		{"a colleague writes to the account's alias", Message{
			From: Address{Email: "kim@startup-alias.example"}, To: []Address{{Email: "sarah@startup-alias.example"}}, Subject: "Press inquiry prep",
		}, Config{}, false, "internal sender", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.m.Account = acct.Email
			r := d.Detect(c.m, c.cfg)
			require.Equal(t, c.press, r.Press, "score %v reasons %q correspondent %v", r.Score, r.Reasons, r.Correspondent)
			require.True(t, hasReason(r, c.reason), "reasons %q lack %q", r.Reasons, c.reason)
			require.False(t, c.press && hasReason(r, "internal sender"), "reasons %q", r.Reasons)
			if c.press {
				require.Equal(t, c.corr, r.Correspondent.Email)
			}
		})
	}
}

// A display name whose encoded word is quoted ("=?UTF-8?B?…?=" <a@b>)
// counts with its cues: "Jane Doe, Reporter" is a journalist's.
func TestQuotedEncodedDisplayName(t *testing.T) {
	t.Parallel()
	a, ok := ParseAddress(`"=?UTF-8?B?SmFuZSBEb2UsIFJlcG9ydGVy?=" <jane@freelance.example>`)
	require.True(t, ok)
	r := New().Detect(in(a.Name, a.Email, "Interview"), Config{})
	require.True(t, r.Press, "score %v reasons %q", r.Score, r.Reasons)
	require.True(t, hasReason(r, `display name cue "reporter"`), "reasons %q", r.Reasons)
	require.Equal(t, Address{Name: "Jane Doe, Reporter", Email: "jane@freelance.example"}, r.Correspondent)
}

// A subject in a legacy charset qualifies as its UTF-8 twin does: 取材依頼
// in ISO-2022-JP is the same strong cue.
func TestSubjectCuesInLegacyCharsets(t *testing.T) {
	t.Parallel()
	d := New()
	for _, c := range []struct{ utf8, raw string }{
		{"取材依頼", "=?ISO-2022-JP?B?GyRCPGg6YDBNTWobKEI=?="},
		{"取材依頼", "=?Shift_JIS?B?juaN3ojLl4o=?="},
		{"采访请求", "=?GB2312?B?ssm3w8frx/M=?="},
		{"취재 요청", "=?EUC-KR?B?w+vA5yC/5MO7?="},
		{"Запрос СМИ", "=?KOI8-R?B?+sHQ0s/TIPPt6Q==?="},
	} {
		m := in("", "k.tanaka@unlisted-news.example", c.utf8)
		want := d.Detect(m, Config{})
		require.True(t, want.Press, "%s: %q", c.utf8, want.Reasons)
		m.Subject = c.raw
		got := d.Detect(m, Config{})
		require.Equal(t, want, got, "%s as %s", c.utf8, c.raw)
	}
}

// A person whose name starts with an outlet's ("Fortune Okafor", "Xinhua
// Li", "Forbes, Jane" as directories write it) is not impersonating the
// outlet: the request for comment counts as from any unlisted domain. An
// outlet's name alone or followed by a desk word still claims the outlet.
func TestPersonNamedLikeAnOutletIsNotImpersonation(t *testing.T) {
	t.Parallel()
	d := New()
	detect := func(from string) Result {
		a, ok := ParseAddress(from)
		require.True(t, ok, from)
		return d.Detect(Message{From: a, To: ParseAddressList("pat@acme.example"),
			Subject: "Request for comment on the plant closure", Account: "pat@acme.example"}, Config{})
	}
	for _, from := range []string{
		`Fortune Okafor <fortune.okafor@lagosledger.example>`,
		`Xinhua Li <xinhua.li@sixthtone.example>`,
		`"Forbes, Jane" <jane.forbes@valleyledger.example>`,
		`"Bloomberg, Anna" <anna.bloomberg@valleyledger.example>`,
		`Reuters Smith <reuters.smith@valleyledger.example>`,
		`Spiegel Newman <spiegel.newman@valleyledger.example>`, // "Newman" is not the desk word "News"
	} {
		r := detect(from)
		require.True(t, r.Press, "%s: score %.2f reasons %q", from, r.Score, r.Reasons)
		require.Equal(t, 0.6, r.Score, from)
		require.False(t, slices.ContainsFunc(r.Reasons, func(s string) bool { return strings.HasPrefix(s, "display name claims") }), "%s: %q", from, r.Reasons)
	}
	for from, outlet := range map[string]string{
		`Reuters Editorial <editor@press-desk.example>`:            "Reuters",
		`Reuters Newsroom Europe <desk@press-desk.example>`:        "Reuters",
		`The Guardian <editor@press-desk.example>`:                 "The Guardian",
		`BBC News <news@press-desk.example>`:                       "BBC",
		`"Forbes Magazine" <editors@press-desk.example>`:           "Forbes",
		`Fortune Team <team@press-desk.example>`:                   "Fortune",
		`"Spiegel Redaktion" <redaktion@press-desk.example>`:       "Der Spiegel",
		`TechCrunch Editorial Team <editorial@press-desk.example>`: "TechCrunch",
	} {
		r := detect(from)
		require.False(t, r.Press, "%s: score %.2f reasons %q", from, r.Score, r.Reasons)
		require.Contains(t, r.Reasons, "display name claims "+outlet+" but the address is not at a media domain", from)
	}
}
