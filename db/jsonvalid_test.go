package db_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/db"
)

// validJSONCases are documents at the edges of the grammar, valid and not.
var validJSONCases = []string{
	``, ` `, `{}`, `[]`, ` {} `, "\t[\r\n]\n", `{`, `}`, `[`, `]`, `[}`, `{]`, `[[]`, `[]]`, `{}{}`, `[] []`, `{} x`,
	`null`, `true`, `false`, `nul`, `nulll`, `True`, `tru`, `falsey`, `nullx`, `[true,false,null]`, `[truefalse]`,
	`0`, `-0`, `01`, `-01`, `1.`, `.5`, `1.5`, `-1.5e10`, `1e`, `1e+`, `1E-0`, `1e+5`, `+1`, `-`, `--1`, `0x10`,
	`1.5.5`, `1e5e5`, `[-]`, `[1,]`, `[,1]`, `[1 2]`, `[1,,2]`, `123456789012345678901234567890`, `0.000001`, `-0.0e-0`,
	`""`, `"a"`, `"a`, `"\"`, `"\\"`, `"\/"`, `"\b\f\n\r\t"`, `"\x"`, `"\u00e9"`, `"\u00E9"`, `"\u00g9"`, `"\u00e"`,
	`"\u"`, `"\ud83d"`, `"\ud83d\ude42"`, "\"tab\there\"", "\"nl\nhere\"", "\"del\x7fok\"", "\"nul\x00\"", "\"\x1f\"",
	"\"bad utf8 \xff\xfe\"", "\"caf\xc3\xa9\"", "\xef\xbb\xbf{}", "\f{}", "[1,\v2]", "{}\u00a0", `{"a":1}`, `{"a" : 1 , "b" :[ 2 ]}`, `{"a"}`,
	`{"a":}`, `{"a" 1}`, `{a:1}`, `{"a":1,}`, `{,}`, `{"a":1 "b":2}`, `{1:2}`, `{"a":{"b":{"c":[1,{"d":null}]}}}`,
	`[{"a":"}"},"]",{"[":"{"}]`, `"a" "b"`, `[1]x`, "[1]\x00", "\x00", `[1e999999]`, `{"":""}`, `[""]`,
}

func TestValidJSONAgreesWithEncodingJSON(t *testing.T) {
	check := func(doc []byte) {
		t.Helper()
		require.Equal(t, json.Valid(doc), db.ValidJSON(doc), "%q", doc)
	}
	for _, c := range validJSONCases {
		check([]byte(c))
	}
	t.Run("nesting limit", func(t *testing.T) {
		for _, depth := range []int{9999, 10000, 10001} {
			for _, pair := range [][2]string{{"[", "]"}, {`{"a":`, "}"}} {
				doc := []byte(strings.Repeat(pair[0], depth) + "1" + strings.Repeat(pair[1], depth))
				check(doc)
			}
		}
		require.True(t, db.ValidJSON([]byte(strings.Repeat("[", 10000)+strings.Repeat("]", 10000))))
		require.False(t, db.ValidJSON([]byte(strings.Repeat("[", 10001)+strings.Repeat("]", 10001))))
	})
	t.Run("a byte at every offset of a long string", func(t *testing.T) {
		for _, x := range []string{`"`, `\`, `\"`, `\\`, `\u0041`, `\u004`, `\q`, "\x00", "\x01", "\x1f", " ", "\x7f", "\x80", "\xff", "\xe9"} {
			for at := range 20 {
				for _, tail := range []int{0, 1, 7, 8, 9} {
					check([]byte(`["` + strings.Repeat("a", at) + x + strings.Repeat("b", tail) + `"]`))
				}
			}
		}
	})
	t.Run("documents and their mutations", func(t *testing.T) {
		r := rand.New(rand.NewPCG(5, 6))
		bytes := []byte("{}[],:\"\\ \t\n\r\f\v0123456789-+.eEtrufalsn\x00\x1f\x7f\xff/bu")
		for range 3000 {
			v, err := json.MarshalIndent(randomJSONValue(r, 0), "", []string{"", " ", "\t"}[r.IntN(3)])
			require.NoError(t, err)
			check(v)
			for range 5 {
				m := append([]byte(nil), v...)
				switch k := r.IntN(4); {
				case len(m) == 0:
				case k == 0: // replace a byte
					m[r.IntN(len(m))] = bytes[r.IntN(len(bytes))]
				case k == 1: // cut
					m = m[:r.IntN(len(m))]
				case k == 2: // insert a byte
					at := r.IntN(len(m) + 1)
					m = append(m[:at], append([]byte{bytes[r.IntN(len(bytes))]}, m[at:]...)...)
				default: // drop a byte
					at := r.IntN(len(m))
					m = append(m[:at], m[at+1:]...)
				}
				check(m)
			}
		}
	})
}

// randomJSONValue builds a random value with strings that need escapes.
func randomJSONValue(r *rand.Rand, depth int) any {
	pieces := []string{"a", " ", `"`, `\`, "\n", "\t", "é", "\u2028", "\x01", "🙂", "{", "]", "/", "\x7f"}
	str := func() string {
		var sb strings.Builder
		for range r.IntN(6) {
			sb.WriteString(pieces[r.IntN(len(pieces))])
		}
		return sb.String()
	}
	k := r.IntN(8)
	if depth > 3 {
		k = r.IntN(5)
	}
	switch k {
	case 0:
		return str()
	case 1:
		return r.Float64()*2e6 - 1e6
	case 2:
		return json.Number(fmt.Sprintf("%de%d", r.IntN(2000)-1000, r.IntN(40)-20))
	case 3:
		return r.IntN(2) == 0
	case 4:
		return nil
	case 5, 6:
		m := map[string]any{}
		for range r.IntN(5) {
			m[str()] = randomJSONValue(r, depth+1)
		}
		return m
	default:
		l := make([]any, r.IntN(5))
		for i := range l {
			l[i] = randomJSONValue(r, depth+1)
		}
		return l
	}
}

// FuzzValidJSON holds validJSON to json.Valid on any input:
//
//	go test ./db -run '^$' -fuzz FuzzValidJSON -fuzztime 5m
func FuzzValidJSON(f *testing.F) {
	for _, c := range validJSONCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		if json.Valid(doc) != db.ValidJSON(doc) {
			t.Fatalf("%q: json.Valid %v, ValidJSON %v", doc, json.Valid(doc), db.ValidJSON(doc))
		}
	})
}

// BenchmarkValidJSON compares json.Valid and ValidJSON on a document like
// a GitHub push delivery (8 KB).
func BenchmarkValidJSON(b *testing.B) {
	commit := map[string]any{"id": strings.Repeat("a1", 20), "message": "Fix the thing: a message, with \"quotes\"\nand lines",
		"timestamp": "2026-12-07T05:10:00Z", "url": "https://github.com/octo-org/hello-world/commit/" + strings.Repeat("a1", 20),
		"author": map[string]any{"name": "Octo Cat", "email": "octo@example.com", "username": "octocat"},
		"added":  []string{}, "removed": []string{}, "modified": []string{"README.md", "src/main.go"}, "distinct": true}
	repo := map[string]any{}
	for i := range 60 {
		repo[fmt.Sprintf("field_%d_url", i)] = fmt.Sprintf("https://api.github.com/repos/octo-org/hello-world/things/%d{/id}", i)
	}
	repo["id"], repo["stargazers_count"], repo["private"] = 1296269, 80, false
	doc, err := json.Marshal(map[string]any{"ref": "refs/heads/main", "before": strings.Repeat("0", 40), "after": commit["id"],
		"repository": repo, "commits": []any{commit}, "head_commit": commit, "forced": false, "compare": "https://github.com/x"})
	require.NoError(b, err)
	b.Run("encoding/json", func(b *testing.B) {
		b.SetBytes(int64(len(doc)))
		for b.Loop() {
			json.Valid(doc)
		}
	})
	b.Run("ValidJSON", func(b *testing.B) {
		b.SetBytes(int64(len(doc)))
		for b.Loop() {
			db.ValidJSON(doc)
		}
	})
}
