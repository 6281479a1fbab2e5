package db

import "encoding/binary"

// validJSON reports whether b is one JSON value, exactly as json.Valid
// does, in one pass without encoding/json's scanner (a function call per
// byte). CleanJSON runs it on every Signal's payload and raw provider
// object: for a webhook delivery that is the whole body again, after the
// connector has decoded it, and json.Valid there cost about a tenth of
// the intake's CPU per delivery (docs/performance.md, change 26).
//
// What json.Valid accepts, and so this: surrounding whitespace (space, tab,
// CR, LF); strings whose bytes are all at least 0x20 (bytes that are not
// UTF-8 are accepted, as encoding/json accepts them), with the escapes
// \" \\ \/ \b \f \n \r \t and \u with four hex digits; numbers as RFC 8259
// writes them (no leading zero, no '+', no bare '.'); true, false, null;
// objects and arrays nested at most maxNestingDepth deep. FuzzValidJSON
// holds it to json.Valid.
func validJSON(b []byte) bool {
	var buf [32]byte
	open := buf[:0] // the containers open around i: '{' or '['
	i := skipSpace(b, 0)
	const (
		value = iota // a value starts at i
		key          // an object's key starts at i
		after        // a value ended before i
	)
	for state := value; ; {
		switch state {
		case value:
			if i >= len(b) {
				return false
			}
			switch c := b[i]; c {
			case '{', '[':
				open = append(open, c)
				if len(open) > maxNestingDepth {
					return false
				}
				i = skipSpace(b, i+1)
				if i < len(b) && b[i] == c+2 { // '}' or ']': empty
					open = open[:len(open)-1]
					i++
					state = after
				} else if c == '{' {
					state = key
				}
				continue
			case '"':
				i = validString(b, i+1)
			case 't':
				i = literal(b, i, "true")
			case 'f':
				i = literal(b, i, "false")
			case 'n':
				i = literal(b, i, "null")
			default:
				i = validNumber(b, i)
			}
			if i < 0 {
				return false
			}
			state = after
		case key:
			if i >= len(b) || b[i] != '"' {
				return false
			}
			if i = validString(b, i+1); i < 0 {
				return false
			}
			if i = skipSpace(b, i); i >= len(b) || b[i] != ':' {
				return false
			}
			i = skipSpace(b, i+1)
			state = value
		case after:
			i = skipSpace(b, i)
			if len(open) == 0 {
				return i == len(b)
			}
			if i >= len(b) {
				return false
			}
			top := open[len(open)-1]
			switch b[i] {
			case ',':
				i = skipSpace(b, i+1)
				if top == '{' {
					state = key
				} else {
					state = value
				}
			case top + 2: // '}' closes '{', ']' closes '['
				open = open[:len(open)-1]
				i++
			default:
				return false
			}
		}
	}
}

// maxNestingDepth is encoding/json's limit: a document nested deeper is
// not valid to it.
const maxNestingDepth = 10000

func skipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\r', '\n':
			i++
		default:
			return i
		}
	}
	return i
}

// stringByte marks the bytes a string cannot hold as they are: the quote
// that ends it, the backslash of an escape, and control characters.
var stringByte = func() (t [256]bool) {
	for c := range 0x20 {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

// validString returns the index after the quote that ends the string
// whose contents start at b[i], or -1 when it is not a valid string. Runs
// of plain bytes are skipped eight at a time (plain8).
func validString(b []byte, i int) int {
	for {
		for i+8 <= len(b) && plain8(binary.LittleEndian.Uint64(b[i:])) {
			i += 8
		}
		for i < len(b) && !stringByte[b[i]] {
			i++
		}
		if i >= len(b) {
			return -1
		}
		switch b[i] {
		case '"':
			return i + 1
		case '\\':
			if i+1 >= len(b) {
				return -1
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if _, ok := hex4(b, i+2); !ok {
					return -1
				}
				i += 6
			default:
				return -1
			}
		default: // a control character
			return -1
		}
	}
}

// plain8 reports whether none of the eight bytes of x is a stringByte: no
// byte below 0x20, no quote, no backslash (the zero-byte tests of
// graphics.stanford.edu/~seander/bithacks.html, exact as a yes or no).
func plain8(x uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	quote, backslash := x^(ones*'"'), x^(ones*'\\')
	return ((x-ones*0x20)&^x|(quote-ones)&^quote|(backslash-ones)&^backslash)&highs == 0
}

// validNumber returns the index after the number that starts at b[i], or
// -1 when none does.
func validNumber(b []byte, i int) int {
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		i = digits(b, i+1)
	default:
		return -1
	}
	if i < len(b) && b[i] == '.' {
		j := digits(b, i+1)
		if j == i+1 {
			return -1
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(b, i)
		if j == i {
			return -1
		}
		i = j
	}
	return i
}

func digits(b []byte, i int) int {
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}

// literal returns the index after word at b[i], or -1 when b does not
// hold it there.
func literal(b []byte, i int, word string) int {
	if len(b)-i < len(word) || string(b[i:i+len(word)]) != word {
		return -1
	}
	return i + len(word)
}
