package press

import (
	"strings"
	"unicode"
)

// fold prepares text for cue matching: lower case, Latin diacritics removed
// (people drop accents in subjects: "peticion de entrevista"), full-width
// forms mapped to ASCII, and every run of characters that are neither
// letters nor digits turned into one space. The result starts and ends with
// a space so that a word boundary is always " ".
func fold(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte(' ')
	space := true
	for _, r := range strings.ToLower(s) {
		if r >= 0xFF01 && r <= 0xFF5E {
			r -= 0xFEE0
			r = unicode.ToLower(r)
		}
		if rep, ok := foldTable[r]; ok {
			b.WriteString(rep)
			space = false
			continue
		}
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune(r)
			space = false
			continue
		}
		if unicode.Is(unicode.Mn, r) {
			continue // combining marks left by ToLower ("İ" -> "i̇")
		}
		if !space {
			b.WriteByte(' ')
			space = true
		}
	}
	if !space {
		b.WriteByte(' ')
	}
	return b.String()
}

// foldTable strips the diacritics of the Latin letters used by the
// languages the cue tables cover.
var foldTable = func() map[rune]string {
	m := map[rune]string{}
	for base, letters := range map[string]string{
		"a": "àáâãäåāăą", "c": "çćčĉċ", "d": "ďđ", "e": "èéêëēĕėęě", "g": "ğĝġģ",
		"i": "ìíîïīĭįı", "l": "łľĺļ", "n": "ñńňņ", "o": "òóôõöøōŏő", "r": "řŕ",
		"s": "śšşŝș", "t": "ťţț", "u": "ùúûüūŭůűų", "y": "ýÿŷ", "z": "źżž",
		"ss": "ß", "ae": "æ", "oe": "œ",
		// Cyrillic and Arabic spelling variants people use interchangeably.
		"е": "ё", "ا": "أإآ", "ي": "ى",
	} {
		for _, r := range letters {
			m[r] = base
		}
	}
	return m
}()

// unspaced reports whether s is written in a script that does not separate
// words with spaces (Chinese, Japanese) or attaches particles and articles
// to words (Korean, Arabic); cues in those scripts match anywhere.
func unspaced(s string) bool {
	for _, r := range s {
		if unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul, unicode.Arabic) {
			return true
		}
	}
	return false
}
