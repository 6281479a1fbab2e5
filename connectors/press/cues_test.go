package press

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// A phrase listed twice with different weights would silently keep the
// first; the tables must agree with themselves.
func TestCueTablesConsistent(t *testing.T) {
	t.Parallel()
	for name, sets := range map[string][]cueSet{"subject": subjectCueSets, "name": nameCueSets} {
		weight := map[string]float64{}
		langs := map[string]bool{}
		for _, set := range sets {
			langs[set.lang] = true
			for _, p := range strings.Split(set.phrases, "|") {
				p = strings.TrimSpace(p)
				require.NotEmpty(t, p, "%s %s: empty phrase (stray |)", name, set.lang)
				key := cueKey(p)
				require.NotEmpty(t, strings.TrimSpace(key), "%s %s: %q folds to nothing", name, set.lang, p)
				if w, ok := weight[key]; ok {
					require.Equal(t, w, set.weight, "%s: %q listed with two weights", name, p)
				}
				weight[key] = set.weight
			}
		}
		if name == "subject" {
			for _, l := range []string{"en", "es", "fr", "de", "pt", "it", "nl"} {
				require.True(t, langs[l], "subject cues lack %s", l)
			}
		}
	}
}

func TestSubjectCuesByLanguage(t *testing.T) {
	t.Parallel()
	// One realistic request per language; each must reach the strong-cue
	// level on its own, as it would from an unlisted outlet's domain.
	for lang, subject := range map[string]string{
		"en": "Media inquiry: new plant", "es": "Consulta de prensa sobre la planta",
		"fr": "Demande presse – nouvelle usine", "de": "Presseanfrage zum neuen Werk",
		"pt": "Pedido de imprensa sobre a fábrica", "it": "Richiesta stampa sul nuovo stabilimento",
		"nl": "Persvraag over de nieuwe fabriek", "sv": "Pressförfrågan om fabriken",
		"da": "Presseforespørgsel om fabrikken", "no": "Pressehenvendelse om fabrikken",
		"pl": "Zapytanie prasowe w sprawie fabryki", "ru": "Запрос СМИ о заводе",
		"tr": "Basın talebi: yeni fabrika", "ja": "新工場に関する取材依頼", "zh": "关于新工厂的采访请求",
		"ko": "신공장 관련 취재 요청", "ar": "طلب تعليق على المصنع الجديد",
	} {
		pos, neg := sum(subjectCues.match(subject))
		require.GreaterOrEqual(t, pos, strongCue, "%s: %q", lang, subject)
		require.Zero(t, neg, "%s: %q", lang, subject)
	}
}

func TestCueMatching(t *testing.T) {
	t.Parallel()
	phrases := func(s string) []string {
		var out []string
		for _, h := range subjectCues.match(s) {
			out = append(out, h.phrase)
		}
		return out
	}
	// The longest phrase claims its words: no "for comment" or "comment" extra.
	require.Equal(t, []string{"request for comment"}, phrases("Request for comment"))
	// Whole words only: "pressure" is not "press", "impressive" neither.
	require.Empty(t, phrases("Impressive pressure test"))
	// Stems match word endings, and accents, case and width do not matter.
	require.Equal(t, []string{"journalist"}, phrases("Journalistin fragt nach"))
	require.Equal(t, []string{"peticion de entrevista"}, phrases("PETICIÓN DE ENTREVISTA"))
	require.Equal(t, []string{"presseanfrage"}, phrases("Ｐｒｅｓｓｅａｎｆｒａｇｅｎ"))
	// A neutral phrase hides its words: a press release is not press mail.
	require.Empty(t, phrases("Draft press release"))
	// Counter-cues are reported with their negative weight.
	hits := subjectCues.match("Interview schedule for the candidate")
	pos, neg := sum(hits)
	require.Equal(t, 0.0, pos)
	require.Less(t, neg, 0.0)
}

func TestIsForward(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]bool{
		"Fwd: Press inquiry": true, "FW: x": true, "WG: Presseanfrage": true, "TR: Demande presse": true,
		"RV: Consulta": true, "I: Richiesta": true, "Re: Fwd: Media request": true, "AW: WG: x": true,
		"转发：采访请求": true, "Re: Press inquiry": false, "Press inquiry": false, "Fwd": false,
		"Interview: Fwd: later": false, "": false,
		"[EXTERNAL] Fwd: Request for comment from Reuters": true, "[Ext] RE: FW: x": true, "EXTERNAL: Fwd: x": true,
		"[External Sender] WG: Presseanfrage": true, "CAUTION: FW: x": true, "Re: [EXTERNAL] Fwd: x": true,
		"[EXTERNAL] Re: Request for comment": false, "[EXTERNAL] Request for comment": false, "[Fwd: Press inquiry]": true,
	} {
		require.Equal(t, want, isForward(s), s)
	}
}

func TestValidateConfig(t *testing.T) {
	t.Parallel()
	require.NoError(t, ValidateConfig(Config{
		Domains:   []string{"nytimes.com", "@Reuters.com", "*.bbc.co.uk", "bücher.example"},
		Addresses: []string{"jane.doe@freelance.example", "Jane <jane@x.example>"},
	}))
	err := ValidateConfig(Config{Domains: []string{"nytimes.com", "not a domain"}})
	var ce *ConfigError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, ConfigError{Field: "domains", Index: 1, Value: "not a domain", Reason: "not a domain name"}, *ce)
	require.EqualError(t, ValidateConfig(Config{Addresses: []string{"jane"}}), `press: addresses[0] "jane": not an e-mail address`)
	require.Error(t, ValidateConfig(Config{Domains: []string{"com"}}), "a bare TLD would match every .com sender")
	require.EqualError(t, ValidateConfig(Config{Domains: []string{"GMail.com"}}), `press: domains[0] "GMail.com": a freemail domain: list the journalist's address instead`)

	// An ICANN public suffix would make every domain registered under it
	// press (a plumber at plumber.co.uk); a domain registered under one,
	// and a private suffix (a hosting platform's), are the tenant's call.
	for i, d := range []string{"co.uk", "*.co.uk", "@com.au", "CO.UK.", "com.br", "ｃｏ．ｕｋ"} {
		err := ValidateConfig(Config{Domains: []string{"nytimes.com", d}})
		require.ErrorAs(t, err, &ce, d)
		require.Equal(t, ConfigError{Field: "domains", Index: 1, Value: d,
			Reason: "a public suffix, under which anyone registers a domain: list the outlet's own domain instead"}, *ce, "%d %s", i, d)
	}
	require.NoError(t, ValidateConfig(Config{Domains: []string{"bbc.co.uk", "*.abc.net.au", "github.io", "blogspot.com"}}))
	// A config stored before the check matches nothing there.
	plumber := Message{From: Address{Email: "anyone@plumber.co.uk"}, To: []Address{{Email: "pat@acme.example"}}, Subject: "Your boiler service", Account: "pat@acme.example"}
	r := New().Detect(plumber, Config{Domains: []string{"*.co.uk"}})
	require.False(t, r.Press, "%q", r.Reasons)
	require.Empty(t, r.Matched)
}

func TestDisplayNameCues(t *testing.T) {
	t.Parallel()
	tb, err := loadTables()
	require.NoError(t, err)
	for name, want := range map[string]string{
		"Jane Doe | Reuters": "reuters.com", "Jane Doe (The Guardian)": "theguardian.com",
		"Jane Doe - Le Monde": "lemonde.fr", "Jane Doe at Bloomberg News": "bloomberg.net",
		"Jane Doe (AP)": "ap.org", "Fortune Okafor": "", "Doe, Fortune": "", "Time Lord": "",
	} {
		o, ok := tb.outletInName(name)
		require.Equal(t, want != "", ok, name)
		require.Equal(t, want, o.Domain, name)
	}
	for name, want := range map[string]string{
		"Reuters Editorial": "reuters.com", "The Guardian": "theguardian.com", "Bloomberg News": "bloomberg.net",
		"Jane Doe | Reuters": "", "Timothy Smith": "", "Time Smith": "",
		"NYTimes Desk": "nytimes.com", "Spiegel Redaktion": "spiegel.de", "SPIEGEL+": "spiegel.de",
		"TechCrunch Editorial Team": "techcrunch.com", "Xinhua Newsroom": "xinhuanet.com", "BBC News": "bbc.co.uk",
		"Fortune Okafor": "", "Xinhua Li": "", "Forbes, Jane": "", "Bloomberg, Anna": "", "Reuters Smith": "",
		"Le Monde Rédaction": "lemonde.fr", "El País Redacción": "elpais.com", "Corriere della Sera Redazione": "corriere.it",
		"Spiegel Newman": "", "Fortune Brainstorm": "", "Reuters Events": "", "Folha Redação": "",
	} {
		o, ok := tb.claimedOutlet(name)
		require.Equal(t, want != "", ok, name)
		require.Equal(t, want, o.Domain, name)
	}
	// Two outlets whose names start alike: the longest name claimed wins,
	// whatever order the table's map gives (Channel 4 News is ITN's, not
	// Channel 4's).
	for range 50 {
		o, ok := tb.claimedOutlet("Channel 4 News Desk")
		require.True(t, ok)
		require.Equal(t, "itn.co.uk", o.Domain)
	}
}
