package press

import (
	"sort"
	"strings"
)

// Cue weights. A message's cues add up (positive ones capped at 1); see
// Detect for how they combine with what the sender's domain says.
const (
	// strongCue: the phrase itself says press: "press inquiry",
	// "request for comment", "journalist", "embargo".
	strongCue = 0.6
	// mediumCue: usual in press mail but with other uses too:
	// "interview request", "story on", "for comment".
	mediumCue = 0.4
	// weakCue: one of the words press mail is about, common elsewhere:
	// "interview", "deadline", "article".
	weakCue = 0.25
	// neutralCue: a phrase that contains a cue word without being one
	// ("press release", "social media", "記者会見"); matching it hides the
	// word from the weaker cues.
	neutralCue = 0
	// counterCue: mail of another kind: billing, subscriptions, recruiting,
	// newsletters, marketing.
	counterCue = -0.5
)

// cue is one compiled phrase.
type cue struct {
	phrase string // as written in the table, quoted in Reasons
	key    string // folded form searched for
	weight float64
}

// cueSet is a group of phrases of one language and weight, separated by
// "|". A trailing "*" matches any word ending ("journalist*" matches
// "journalists", "Journalistin", "journaliste"); otherwise phrases match
// whole words. Phrases in scripts without word spaces match anywhere.
type cueSet struct {
	lang    string
	weight  float64
	phrases string
}

// cueTable holds compiled cues, longest first, so that the longest phrase
// claims the words it covers ("request for comment" before "for comment").
type cueTable []cue

// compileCues folds and orders a table; duplicates keep their first entry.
func compileCues(sets []cueSet) cueTable {
	var t cueTable
	seen := map[string]bool{}
	for _, set := range sets {
		for _, p := range strings.Split(set.phrases, "|") {
			p = strings.TrimSpace(p)
			if p == "" {
				continue
			}
			key := cueKey(p)
			if seen[key] {
				continue
			}
			seen[key] = true
			t = append(t, cue{phrase: strings.TrimSuffix(p, "*"), key: key, weight: set.weight})
		}
	}
	sort.SliceStable(t, func(i, j int) bool { return len(t[i].key) > len(t[j].key) })
	return t
}

// cueKey is the string a phrase is searched as in folded text: " word "
// for whole words, " word" for a stem, the bare text in unspaced scripts.
func cueKey(p string) string {
	stem := strings.HasSuffix(p, "*")
	k := fold(strings.TrimSuffix(p, "*"))
	switch {
	case unspaced(p):
		return strings.TrimSpace(k)
	case stem:
		return strings.TrimSuffix(k, " ")
	}
	return k
}

// hit is a cue found in a text.
type hit struct {
	phrase string
	weight float64
}

// match returns the cues found in text, each at most once. A matched span
// is blanked out, so words are counted once, by the longest phrase.
func (t cueTable) match(text string) []hit {
	s := fold(text)
	if strings.TrimSpace(s) == "" {
		return nil
	}
	var hits []hit
	for _, c := range t {
		found := false
		for {
			i := strings.Index(s, c.key)
			if i < 0 {
				break
			}
			found = true
			s = s[:i] + blank(c.key) + s[i+len(c.key):]
		}
		if found && c.weight != neutralCue {
			hits = append(hits, hit{phrase: c.phrase, weight: c.weight})
		}
	}
	return hits
}

// blank replaces a matched key with underscores, keeping the boundary
// spaces so that neighbouring words still match.
func blank(key string) string {
	inner := strings.Trim(key, " ")
	start := strings.Index(key, inner)
	return key[:start] + strings.Repeat("_", len(inner)) + key[start+len(inner):]
}

// sum adds the weights of hits: positive ones capped at 1, negative ones
// floored at -1.
func sum(hits []hit) (pos, neg float64) {
	for _, h := range hits {
		if h.weight > 0 {
			pos += h.weight
		} else {
			neg += h.weight
		}
	}
	return min(pos, 1), max(neg, -1)
}
