package press

import "strings"

// Punycode (RFC 3492) encoding, so that an internationalized domain written
// in Unicode ("bücher.example") and its ASCII form ("xn--bcher-kva.example")
// compare equal. The standard library has no IDNA, and the package keeps to
// Punycode rather than golang.org/x/net/idna's full mapping; case folding is strings.ToLower plus the width and dot mappings in
// canonDomain, which covers what mail clients emit in practice.

const (
	pcBase        = 36
	pcTMin        = 1
	pcTMax        = 26
	pcSkew        = 38
	pcDamp        = 700
	pcInitialBias = 72
	pcInitialN    = 128
	pcMaxLabel    = 63
)

// punyLabel returns the ASCII form of one domain label: unchanged when it is
// ASCII, "xn--" plus its Punycode otherwise. ok is false for a label whose
// encoding would overflow or exceed the DNS label length.
func punyLabel(label string) (string, bool) {
	ascii := true
	for i := 0; i < len(label); i++ {
		if label[i] >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii {
		return label, true
	}
	runes := []rune(label)
	var out strings.Builder
	out.WriteString("xn--")
	basic := 0
	for _, r := range runes {
		if r < 0x80 {
			out.WriteByte(byte(r))
			basic++
		}
	}
	if basic > 0 {
		out.WriteByte('-')
	}
	n, delta, bias := rune(pcInitialN), 0, pcInitialBias
	for h := basic; h < len(runes); {
		m := rune(0x7fffffff)
		for _, r := range runes {
			if r >= n && r < m {
				m = r
			}
		}
		if int(m-n) > (1<<30)/(h+1) {
			return "", false
		}
		delta += int(m-n) * (h + 1)
		n = m
		for _, r := range runes {
			if r < n {
				delta++
			}
			if r != n {
				continue
			}
			q := delta
			for k := pcBase; ; k += pcBase {
				t := k - bias
				if t < pcTMin {
					t = pcTMin
				} else if t > pcTMax {
					t = pcTMax
				}
				if q < t {
					break
				}
				out.WriteByte(punyDigit(t + (q-t)%(pcBase-t)))
				q = (q - t) / (pcBase - t)
			}
			out.WriteByte(punyDigit(q))
			bias = punyAdapt(delta, h+1, h == basic)
			delta = 0
			h++
			if out.Len() > pcMaxLabel {
				return "", false
			}
		}
		delta++
		n++
	}
	return out.String(), out.Len() <= pcMaxLabel
}

func punyDigit(d int) byte {
	if d < 26 {
		return byte('a' + d)
	}
	return byte('0' + d - 26)
}

func punyAdapt(delta, points int, first bool) int {
	if first {
		delta /= pcDamp
	} else {
		delta /= 2
	}
	delta += delta / points
	k := 0
	for delta > ((pcBase-pcTMin)*pcTMax)/2 {
		delta /= pcBase - pcTMin
		k += pcBase
	}
	return k + (pcBase-pcTMin+1)*delta/(delta+pcSkew)
}

// punyDecode returns the Unicode form of one domain label: unchanged when
// it is not "xn--" Punycode, decoded (RFC 3492 §6.2) otherwise. ok is false
// for a label that does not decode.
func punyDecode(label string) (string, bool) {
	s, ok := strings.CutPrefix(label, "xn--")
	if !ok {
		return label, true
	}
	var out []rune
	if b := strings.LastIndexByte(s, '-'); b > 0 {
		for i := 0; i < b; i++ {
			if s[i] >= 0x80 {
				return "", false
			}
			out = append(out, rune(s[i]))
		}
		s = s[b+1:]
	}
	if s == "" {
		return "", false // an ASCII label in Punycode's clothes
	}
	const maxInt = 1<<31 - 1
	n, i, bias := pcInitialN, 0, pcInitialBias
	for pos := 0; pos < len(s); {
		oldi, w := i, 1
		for k := pcBase; ; k += pcBase {
			if pos >= len(s) {
				return "", false
			}
			digit := punyValue(s[pos])
			pos++
			if digit < 0 || digit > (maxInt-i)/w {
				return "", false
			}
			i += digit * w
			t := min(max(k-bias, pcTMin), pcTMax)
			if digit < t {
				break
			}
			if w > maxInt/(pcBase-t) {
				return "", false
			}
			w *= pcBase - t
		}
		points := len(out) + 1
		bias = punyAdapt(i-oldi, points, oldi == 0)
		if i/points > maxInt-n {
			return "", false
		}
		n += i / points
		i %= points
		if n > 0x10FFFF || (n >= 0xD800 && n <= 0xDFFF) || n < 0x80 {
			return "", false
		}
		out = append(out, 0)
		copy(out[i+1:], out[i:])
		out[i] = rune(n)
		i++
		if len(out) > pcMaxLabel {
			return "", false
		}
	}
	return string(out), true
}

// punyValue is the value of a Punycode digit, -1 for another byte.
func punyValue(c byte) int {
	switch {
	case c >= 'a' && c <= 'z':
		return int(c - 'a')
	case c >= 'A' && c <= 'Z':
		return int(c - 'A')
	case c >= '0' && c <= '9':
		return int(c-'0') + 26
	}
	return -1
}
