package press

import (
	"html"
	"io"
	"mime"
	"net/mail"
	"strings"

	"golang.org/x/text/encoding/htmlindex"
)

// ParseAddressList parses an address header (From, To, Cc, Reply-To) into
// mailboxes, recovering what it can from malformed input instead of failing:
// mail connectors get headers from many clients (Gmail metadata headers as
// written by the sender's client, Zoho Mail's HTML-escaped address strings),
// and one bad recipient must not hide the others. It
//   - unescapes HTML entities (&lt;jane@x.example&gt;, &quot;Jane&quot;),
//   - unfolds continuation lines,
//   - splits on commas and semicolons outside quotes, angle brackets and
//     comments, and drops group names ("Team: a@x, b@y;"),
//   - joins an unquoted "Doe, Jane <jane@x.example>" back into one mailbox,
//   - decodes RFC 2047 encoded words, also in charsets net/mail rejects
//     and inside a quoted display name (unknown charsets degrade to U+FFFD
//     rather than an error),
//   - keeps comments in the display name: "Jane Doe (Reuters)" stays that,
//     because an outlet in a comment is a signal the detector reads.
//
// Parts without an "@" are dropped. The result is never nil when the header
// held at least one address; the Email field is returned as written (Detect
// normalizes case and internationalized domains itself).
func ParseAddressList(header string) []Address {
	header = normalizeHeader(header)
	if header == "" {
		return nil
	}
	var out []Address
	// An unquoted "Doe, Jane <jane@x>" splits into "Doe" and "Jane <jane@x>":
	// a part without an "@" is held and becomes the start of the next
	// mailbox's display name when that one has an angle-addr.
	// (Held parts are joined once, when used: joining them as they came
	// was quadratic in a header of many parts without an "@".)
	var pending []string
	for _, part := range splitAddresses(header) {
		part = stripGroupName(part)
		if part == "" {
			continue
		}
		if !strings.Contains(part, "@") {
			pending = append(pending, part)
			continue
		}
		a, ok := parseMailbox(part)
		if !ok {
			pending = pending[:0]
			continue
		}
		if len(pending) > 0 && hasAngleAddr(part) {
			a.Name = strings.TrimSpace(cleanName(strings.Join(pending, ", ")) + ", " + a.Name)
			a.Name = strings.TrimSuffix(a.Name, ",")
		}
		pending = pending[:0]
		out = append(out, a)
	}
	return out
}

// ParseAddress parses one mailbox with the same fallbacks as ParseAddressList;
// ok is false when the input holds no address.
func ParseAddress(s string) (Address, bool) {
	list := ParseAddressList(s)
	if len(list) == 0 {
		return Address{}, false
	}
	return list[0], true
}

// DecodeHeader decodes RFC 2047 encoded words in a header value such as a
// Subject ("=?UTF-8?B?...?=") and returns valid UTF-8. Text without encoded
// words, or that fails to decode, is returned as it is (made valid UTF-8), so
// it is safe on values a provider has already decoded.
func DecodeHeader(s string) string {
	if strings.Contains(s, "=?") {
		if d, err := wordDecoder.DecodeHeader(s); err == nil {
			s = d
		}
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

var wordDecoder = &mime.WordDecoder{CharsetReader: charsetReader}

// charsetReader decodes the charsets the WHATWG Encoding Standard names
// (golang.org/x/text/encoding/htmlindex: windows-1252 and the ISO-8859
// family, ISO-2022-JP, Shift_JIS, EUC-JP, GB2312/GBK/GB18030, Big5, EUC-KR,
// KOI8-R, …), so a subject or name in its language's legacy charset reads
// as its UTF-8 twin. Invalid bytes become U+FFFD. A charset it does not know
// passes through; DecodeHeader then replaces bytes that are not UTF-8. A
// display name that comes out lossy is better than no mailbox.
func charsetReader(charset string, input io.Reader) (io.Reader, error) {
	name := strings.ToLower(strings.TrimSpace(charset))
	if alias, ok := charsetAliases[name]; ok {
		name = alias
	}
	if enc, err := htmlindex.Get(name); err == nil {
		return enc.NewDecoder().Reader(input), nil
	}
	return input, nil
}

// charsetAliases are labels mail clients write that the Encoding Standard
// does not list.
var charsetAliases = map[string]string{"latin-1": "latin1", "latin-9": "iso-8859-15", "latin9": "iso-8859-15"}

// normalizeHeader unescapes HTML entities and unfolds lines.
func normalizeHeader(s string) string {
	if strings.Contains(s, "&") {
		s = html.UnescapeString(s)
	}
	s = strings.NewReplacer("\r\n", " ", "\r", " ", "\n", " ", "\t", " ", "\x00", "").Replace(s)
	return strings.TrimSpace(strings.ToValidUTF8(s, "\uFFFD"))
}

// splitAddresses splits a header at commas and semicolons that are outside
// quoted strings, angle brackets and comments.
func splitAddresses(s string) []string {
	var parts []string
	var cur strings.Builder
	quoted, escaped := false, false
	angle, comment := 0, 0
	for _, r := range s {
		switch {
		case escaped:
			escaped = false
		case r == '\\' && (quoted || comment > 0):
			escaped = true
		case r == '"' && comment == 0:
			quoted = !quoted
		case quoted:
		case r == '(':
			comment++
		case r == ')' && comment > 0:
			comment--
		case comment > 0:
		case r == '<':
			angle++
		case r == '>' && angle > 0:
			angle--
		case (r == ',' || r == ';') && angle == 0:
			parts = append(parts, strings.TrimSpace(cur.String()))
			cur.Reset()
			continue
		}
		cur.WriteRune(r)
	}
	parts = append(parts, strings.TrimSpace(cur.String()))
	return parts
}

// stripGroupName removes an RFC 5322 group display name ("Team: a@x").
func stripGroupName(part string) string {
	i := strings.IndexByte(part, ':')
	if i < 0 {
		return part
	}
	head := part[:i]
	if strings.ContainsAny(head, "\"<@(") {
		return part
	}
	return strings.TrimSpace(part[i+1:])
}

func hasAngleAddr(s string) bool {
	i := strings.LastIndexByte(s, '<')
	return i >= 0 && strings.Contains(s[i:], "@")
}

// parseMailbox parses one mailbox: net/mail first, then by hand.
func parseMailbox(s string) (Address, bool) {
	if s == "" {
		return Address{}, false
	}
	var a Address
	if m, err := (&mail.AddressParser{WordDecoder: wordDecoder}).Parse(s); err == nil {
		a = Address{Name: m.Name, Email: m.Address}
	} else if a, err = parseLoose(s); err != nil {
		return Address{}, false
	}
	if strings.Contains(a.Name, "=?") {
		// An encoded word inside quotes ("=?UTF-8?B?…?=" <a@b>): RFC 2047
		// forbids it, net/mail leaves it, many mailers write it.
		a.Name = DecodeHeader(a.Name)
	}
	a.Name = strings.TrimSpace(strings.ToValidUTF8(a.Name, "\uFFFD"))
	a.Email = strings.TrimSpace(a.Email)
	if !validEmail(a.Email) {
		return Address{}, false
	}
	// net/mail drops comments from a display name; put them back.
	for _, c := range comments(s) {
		c = DecodeHeader(c)
		if c != "" && !strings.Contains(a.Name, c) && !strings.Contains(c, "@") {
			a.Name = strings.TrimSpace(a.Name + " (" + c + ")")
		}
	}
	return a, true
}

type looseError struct{}

func (looseError) Error() string { return "press: no address" }

// parseLoose takes the last angle-addr, or else the first token with an "@",
// and whatever remains as the display name.
func parseLoose(s string) (Address, error) {
	if i := strings.LastIndexByte(s, '<'); i >= 0 {
		j := strings.IndexByte(s[i:], '>')
		inner := s[i+1:]
		rest := ""
		if j >= 0 {
			inner = s[i+1 : i+j]
			rest = s[i+j+1:]
		}
		if strings.Contains(inner, "@") {
			name := stripComments(s[:i]) + " " + stripComments(rest)
			return Address{Name: cleanName(name), Email: trimAddr(inner)}, nil
		}
	}
	fields := strings.Fields(stripComments(s))
	for i, f := range fields {
		if strings.Contains(f, "@") {
			name := strings.Join(append(append([]string{}, fields[:i]...), fields[i+1:]...), " ")
			return Address{Name: cleanName(name), Email: trimAddr(f)}, nil
		}
	}
	return Address{}, looseError{}
}

func trimAddr(s string) string {
	s = strings.Trim(strings.TrimSpace(s), "<>\"'[](){},;:")
	return strings.TrimPrefix(strings.TrimPrefix(s, "mailto:"), "MAILTO:")
}

func cleanName(s string) string {
	s = strings.TrimSpace(s)
	s = strings.Trim(s, "\"' ")
	s = strings.ReplaceAll(s, `\"`, `"`)
	return strings.Join(strings.Fields(DecodeHeader(s)), " ")
}

// comments returns the top-level parenthesized comments outside quotes.
func comments(s string) []string {
	var out []string
	var cur strings.Builder
	depth, quoted := 0, false
	for _, r := range s {
		switch {
		case r == '"' && depth == 0:
			quoted = !quoted
		case quoted:
		case r == '(':
			if depth > 0 {
				cur.WriteRune(r)
			}
			depth++
		case r == ')' && depth > 0:
			depth--
			if depth == 0 {
				out = append(out, strings.TrimSpace(cur.String()))
				cur.Reset()
			} else {
				cur.WriteRune(r)
			}
		case depth > 0:
			cur.WriteRune(r)
		}
	}
	return out
}

func stripComments(s string) string {
	var b strings.Builder
	depth, quoted := 0, false
	for _, r := range s {
		switch {
		case r == '"' && depth == 0:
			quoted = !quoted
		case quoted:
		case r == '(':
			depth++
			continue
		case r == ')' && depth > 0:
			depth--
			continue
		}
		if depth == 0 {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// validEmail reports whether s has a non-empty local part and domain.
func validEmail(s string) bool {
	i := strings.LastIndexByte(s, '@')
	return i > 0 && i < len(s)-1 && !strings.ContainsAny(s, " \t<>")
}
