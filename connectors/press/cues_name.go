package press

import "strings"

// nameCues are words in a display name that say what the person does.
// Journalists often sign their role into the name their client sends
// ("Jane Doe, Freelance Journalist", "Max Muster | Redaktion"), while the
// PR side signs as the press office or the communications team: mail from
// them is about press, not from it.
var nameCues = compileCues(nameCueSets)

// nameCueSets are the display-name cue phrases by language and weight.
var nameCueSets = []cueSet{
	{"en", strongCue, `journalist*|reporter|reporters|correspondent*|news desk|newsdesk|newsroom|staff writer|
		contributing writer|columnist*`},
	{"en", mediumCue, `editor*|freelance writer|producer|writer`},
	{"en", counterCue, `press office|press team|media relations|public relations|communications|comms|pr team|
		pr agency|newsletter*|noreply|no reply|notifications|customer service|support|subscriptions|
		advertising|sales|marketing|events`},
	{"es", strongCue, `periodista*|corresponsal*|redaccion|reportero*|reportera*`},
	{"es", counterCue, `gabinete de prensa|departamento de prensa|comunicacion|relaciones publicas`},
	{"fr", strongCue, `journaliste*|correspondant*|correspondante*|redaction|redacteur*|redactrice*`},
	{"fr", counterCue, `service de presse|service presse|relations presse|relations medias`},
	{"de", strongCue, `redakteur*|redaktion*|korrespondent*|reporterin`},
	{"de", counterCue, `pressestelle|unternehmenskommunikation|kommunikation`},
	{"pt", strongCue, `jornalista*|redacao|reporter|correspondente*|reportagem`},
	{"pt", counterCue, `assessoria de imprensa|assessoria|comunicacao`},
	{"it", strongCue, `giornalista*|redazione|corrispondente*|inviato|inviata`},
	{"it", counterCue, `ufficio stampa|comunicazione`},
	{"nl", strongCue, `verslaggever*|redactie|redacteur*|correspondent*`},
	{"nl", counterCue, `persvoorlichting|voorlichting|communicatie`},
	{"sv", strongCue, `reporter|redaktion*|journalist*`},
	{"pl", strongCue, `dziennikarz*|redakcja|reporter*|korespondent*`},
	{"ru", strongCue, `журналист*|корреспондент*|редакция|обозреватель`},
	{"ru", counterCue, `пресс служба`},
	{"tr", strongCue, `gazeteci*|muhabir*|editor`},
	{"ja", strongCue, `記者|編集部|報道部`},
	{"ja", counterCue, `広報`},
	{"zh", strongCue, `记者|記者|编辑部|編輯部|新闻部|新聞部`},
	{"zh", counterCue, `公关|公關`},
	{"ko", strongCue, `기자|편집부|보도국`},
	{"ko", counterCue, `홍보`},
	{"ar", strongCue, `صحفي|مراسل|مراسلة`},
}

// nameSeparators split a display name into the person and what follows:
// "Jane Doe | Reuters", "Jane Doe (The Guardian)", "Jane Doe - El País",
// "Jane Doe at Bloomberg". Commas are not among them, because "Doe, Jane"
// is how many directories write a plain name.
var nameSeparators = strings.NewReplacer("|", "\x00", "(", "\x00", ")", "\x00", "[", "\x00", "]", "\x00",
	" - ", "\x00", " – ", "\x00", " — ", "\x00", "/", "\x00", ":", "\x00", " @ ", "\x00", " at ", "\x00",
	" At ", "\x00", " AT ", "\x00", " for ", "\x00", " For ", "\x00", " de ", "\x00", " bei ", "\x00", " chez ", "\x00")

// outletInName returns the outlet a display name signs with, if a part of
// it after a separator is exactly the name or an alias of a curated outlet.
// The first part is the person's own name and never counts, so that a
// person called Fortune or Time is not an outlet.
func (t *tables) outletInName(name string) (Outlet, bool) {
	parts := strings.Split(nameSeparators.Replace(name), "\x00")
	for _, p := range parts[1:] {
		k := strings.TrimSpace(fold(p))
		if k == "" {
			continue
		}
		if d, ok := t.names[k]; ok {
			return t.outlets[t.media[d]], true
		}
	}
	return Outlet{}, false
}
