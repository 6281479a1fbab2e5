package press

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// Fuzz targets, seeded from the labeled set. `go test` runs the seeds;
// `make fuzz` explores further. Properties: no panic on any input, and the
// results keep their documented invariants.

func seedHeaders(f *testing.F, add func(l labeled)) {
	for _, name := range []string{"dev.jsonl", "holdout.jsonl"} {
		for _, l := range loadSet(f, name) {
			add(l)
		}
	}
}

func FuzzParseAddressList(f *testing.F) {
	seedHeaders(f, func(l labeled) {
		f.Add(l.From)
		f.Add(l.To)
	})
	f.Add(`"unterminated <a@b.example`)
	f.Add(`((nested (comment)) a@b.example`)
	f.Add("=?UTF-8?B?////?= <a@b.example>, =?x?q?=ZZ?= <c@d.example>")
	f.Add("&lt;&amp;&gt;@&#xFFFF;, \x00@\xff")
	f.Fuzz(func(t *testing.T, header string) {
		for _, a := range ParseAddressList(header) {
			if !validEmail(a.Email) {
				t.Fatalf("invalid email %q from %q", a.Email, header)
			}
			if !utf8.ValidString(a.Name) || !utf8.ValidString(a.Email) {
				t.Fatalf("invalid UTF-8 in %+v from %q", a, header)
			}
		}
		if s := DecodeHeader(header); !utf8.ValidString(s) {
			t.Fatalf("DecodeHeader(%q) = %q: invalid UTF-8", header, s)
		}
	})
}

func FuzzDetect(f *testing.F) {
	seedHeaders(f, func(l labeled) {
		domain, address := "", ""
		if len(l.Config.Domains) > 0 {
			domain = l.Config.Domains[0]
		}
		if len(l.Config.Addresses) > 0 {
			address = l.Config.Addresses[0]
		}
		f.Add(l.From, l.To+", "+l.Cc, l.Subject, l.Outbound, l.ListID+l.ListUnsubscribe, l.Precedence, domain, address)
	})
	d := New()
	f.Fuzz(func(t *testing.T, from, to, subject string, outbound bool, list, precedence, domain, address string) {
		m := Message{To: ParseAddressList(to), Subject: subject, Outbound: outbound, ListID: list, Precedence: precedence}
		if a, ok := ParseAddress(from); ok {
			m.From = a
		} else {
			m.From = Address{Email: from} // raw garbage must not break Detect either
		}
		cfg := Config{Domains: []string{domain}, Addresses: []string{address}}
		r := d.Detect(m, cfg)
		if r.Score < 0 || r.Score > 1 || r.Press != (r.Score >= Threshold) {
			t.Fatalf("score %v press %v", r.Score, r.Press)
		}
		if len(r.Reasons) == 0 {
			t.Fatalf("no reasons for %+v", m)
		}
		if !r.Press && len(r.Matched) > 0 {
			t.Fatalf("matched %q without press", r.Matched)
		}
		if r.Press && !outbound && r.Correspondent != m.From {
			t.Fatalf("inbound correspondent %+v is not the sender %+v", r.Correspondent, m.From)
		}
		if strings.TrimSpace(list) != "" && r.Press {
			t.Fatalf("list mail judged press: %q", r.Reasons)
		}
		again := d.Detect(m, cfg)
		if again.Score != r.Score || strings.Join(again.Reasons, "|") != strings.Join(r.Reasons, "|") {
			t.Fatalf("not deterministic: %v vs %v", r, again)
		}
	})
}

func BenchmarkDetect(b *testing.B) {
	d := New()
	set := loadSet(b, "dev.jsonl")
	msgs := make([]Message, len(set))
	for i, l := range set {
		msgs[i] = l.message()
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		d.Detect(msgs[i%len(msgs)], Config{Domains: []string{"example.org"}})
	}
}
