package db

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// Postgres stores text and jsonb only as valid UTF-8 without NUL: a NUL
// (JSON "\u0000") or an invalid byte makes the whole insert fail, so one
// such character in a signed webhook or a provider page would fail the
// delivery (a 5xx the provider retries forever) or stop the stream.
// ingest.Rows cleans every text of a Signal instead, and the statements
// here that store a provider's words (job errors, health and access
// reasons, resource names) clean theirs: NUL removed, invalid bytes
// replaced by U+FFFD. Found by webhook.FuzzReceive.

// CleanText is s as Postgres text.
func CleanText(s string) string {
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "")
	}
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	return s
}

// CleanJSON is the JSON document b as Postgres jsonb: b itself when
// Postgres accepts it as it is (the common case, no copy; jsonbSafe),
// otherwise b decoded, its strings and keys cleaned, numbers Postgres
// cannot hold kept as strings of their text, and encoded again. ok is false
// when b is not JSON.
func CleanJSON(b []byte) (_ []byte, ok bool) {
	if jsonbSafe(b) {
		return b, validJSON(b) // json.Valid's answer, in a fraction of its time
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil || dec.More() {
		return nil, false
	}
	out, err := json.Marshal(cleanValue(v))
	if err != nil {
		return nil, false
	}
	return out, true
}

// jsonbSafe reports whether Postgres's jsonb input takes b unchanged,
// provided b is JSON as encoding/json reads it. Three things that
// encoding/json accepts make jsonb refuse the whole document, so one of
// them in a signed webhook or a provider page would fail the delivery (a
// 5xx the provider retries) or stop the stream on that page for good:
//   - the escape \u0000 (text cleaning above; a NUL byte, or bytes that
//     are not UTF-8, send b down the slow path too, which refuses what is
//     not JSON and cleans strings);
//   - a UTF-16 surrogate escape without its other half, such as a string
//     a provider cut in the middle of an emoji ("\ud83d"): encoding/json
//     decodes it as U+FFFD, jsonb says "invalid input syntax";
//   - a number outside Postgres numeric's range ("value overflows numeric
//     format": pgNumeric).
//
// The scan looks only at escapes and at numbers long enough to be out of
// range; the slow path that CleanJSON takes otherwise decides exactly.
func jsonbSafe(b []byte) bool {
	if bytes.IndexByte(b, 0) >= 0 || !utf8.Valid(b) {
		return false
	}
	return escapesSafe(b) && numbersShort(b)
}

// escapesSafe reports whether every \u escape of b is neither \u0000
// nor half a surrogate pair. In JSON a backslash occurs only in strings,
// where each one starts an escape: read from one escape to the next, an
// escaped backslash is never taken for the start of another.
func escapesSafe(b []byte) bool {
	for i := 0; ; {
		j := bytes.IndexByte(b[i:], '\\')
		if j < 0 {
			return true
		}
		i += j
		if i+1 >= len(b) {
			return false // not JSON
		}
		if b[i+1] != 'u' {
			i += 2
			continue
		}
		r, ok := hex4(b, i+2)
		switch {
		case !ok:
			return false // not JSON; the slow path says so
		case r == 0:
			return false
		case r >= 0xDC00 && r <= 0xDFFF:
			return false // a low half without its high half
		case r >= 0xD800 && r <= 0xDBFF:
			if i+7 >= len(b) || b[i+6] != '\\' || b[i+7] != 'u' {
				return false
			}
			lo, ok := hex4(b, i+8)
			if !ok || lo < 0xDC00 || lo > 0xDFFF {
				return false
			}
			i += 12
		default:
			i += 6
		}
	}
}

// hex4 reads the four hex digits of a \u escape at b[i:].
func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// numbersShort reports whether b holds no number that could be out of
// Postgres numeric's range. One that is has an exponent of four digits or
// more, or a run of at least 15,000 digits (pgNumeric: up to 16,383
// digits after the point, 131,072 before it); text in a string that looks
// like one (" 3e1234") only sends b down the slow path.
func numbersShort(b []byte) bool {
	if len(b) >= 15000 {
		run := 0
		for _, c := range b {
			if c >= '0' && c <= '9' {
				if run++; run >= 15000 {
					return false
				}
			} else {
				run = 0
			}
		}
	}
	for i := 1; i < len(b); i++ {
		if c := b[i]; c != 'e' && c != 'E' {
			continue
		}
		if !numberBefore(b, i) {
			continue
		}
		j := i + 1
		if j < len(b) && (b[j] == '+' || b[j] == '-') {
			j++
		}
		n := 0
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
			n++
		}
		if n >= 4 {
			return false
		}
	}
	return true
}

// numberBefore reports whether the 'e' at b[i] ends what may be a JSON
// number's mantissa: digits (a point, a minus) back to a byte that can
// precede a value. Hex in a string (a commit SHA, "…9e1234…") does not.
func numberBefore(b []byte, i int) bool {
	j := i - 1
	for j >= 0 && (b[j] >= '0' && b[j] <= '9' || b[j] == '.' || b[j] == '-') {
		j--
	}
	if j == i-1 {
		return false
	}
	if j < 0 {
		return true
	}
	switch b[j] {
	case ':', ',', '[', ' ', '\t', '\n', '\r':
		return true
	}
	return false
}

// pgNumeric reports whether Postgres numeric holds the JSON number n: at
// most 16,383 digits after the point (the display scale, which counts
// trailing zeros and the negative exponent, even for zero) and, for a
// value that is not zero, its first significant digit less than 131,072
// places before the point (numeric's weight, at most 32,767 base-10,000
// digits). Anything else is "value overflows numeric format".
func pgNumeric(n string) bool {
	n = strings.TrimPrefix(n, "-")
	mant, exp := n, 0
	if k := strings.IndexAny(n, "eE"); k >= 0 {
		mant = n[:k]
		e := strings.TrimPrefix(n[k+1:], "+")
		neg := strings.HasPrefix(e, "-")
		e = strings.TrimPrefix(e, "-")
		for _, c := range e {
			if exp = exp*10 + int(c-'0'); exp > 1<<30 {
				return false // far out of range either way
			}
		}
		if neg {
			exp = -exp
		}
	}
	whole, frac, _ := strings.Cut(mant, ".")
	if len(frac)-exp > 16383 {
		return false
	}
	digits := whole + frac
	first := strings.IndexFunc(digits, func(r rune) bool { return r != '0' })
	if first < 0 {
		return true // zero
	}
	return len(whole)-1-first+exp < 131072
}

func cleanValue(v any) any {
	switch v := v.(type) {
	case string:
		return CleanText(v)
	case json.Number:
		if !pgNumeric(string(v)) {
			return string(v)
		}
		return v
	case []any:
		for i := range v {
			v[i] = cleanValue(v[i])
		}
		return v
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[CleanText(k)] = cleanValue(x)
		}
		return out
	}
	return v
}
