package press

import (
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseAddressList(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   string
		want []Address
	}{
		{`Jane Doe <jane@reuters.com>`, []Address{{"Jane Doe", "jane@reuters.com"}}},
		{`"Doe, Jane" <jane@x.example>, bob@y.example`, []Address{{"Doe, Jane", "jane@x.example"}, {"", "bob@y.example"}}},
		{`Doe, Jane <jane@x.example>`, []Address{{"Doe, Jane", "jane@x.example"}}},
		{`a@x.example; b@y.example;`, []Address{{"", "a@x.example"}, {"", "b@y.example"}}},
		{`Jane Doe (Reuters) <jane@reuters.com>`, []Address{{"Jane Doe (Reuters)", "jane@reuters.com"}}},
		{`jane@x.example (Jane Doe)`, []Address{{"Jane Doe", "jane@x.example"}}},
		{`Team: a@x.example, b@x.example;, c@y.example`, []Address{{"", "a@x.example"}, {"", "b@x.example"}, {"", "c@y.example"}}},
		{`undisclosed-recipients:;`, nil},
		{`=?UTF-8?B?Sm9zw6kgTsO6w7Fleg==?= <jose@elpais.es>`, []Address{{"José Núñez", "jose@elpais.es"}}},
		{`=?ISO-8859-1?Q?Fran=E7ois_L=E9ger?= <fl@lemonde.fr>`, []Address{{"François Léger", "fl@lemonde.fr"}}},
		{`=?windows-1252?Q?Ren=E9e_=93RJ=94?= <r@x.example>`, []Address{{"Renée “RJ”", "r@x.example"}}},
		{`&quot;Li Wei&quot; &lt;li.wei@caixin.com&gt;, &lt;ed@scmp.com&gt;`, []Address{{"Li Wei", "li.wei@caixin.com"}, {"", "ed@scmp.com"}}},
		{"Jane Doe\r\n <jane@x.example>,\r\n\tBob <bob@y.example>", []Address{{"Jane Doe", "jane@x.example"}, {"Bob", "bob@y.example"}}},
		{`Jane [Reuters] <jane@reuters.com>`, []Address{{"Jane [Reuters]", "jane@reuters.com"}}},
		{`Jane Doe <jane@x.example`, []Address{{"Jane Doe", "jane@x.example"}}},
		{`<mailto:jane@x.example>`, []Address{{"", "jane@x.example"}}},
		{`用户 <用户@例子.广告>`, []Address{{"用户", "用户@例子.广告"}}},
		{`"Paula M"<paula@zylker.com>`, []Address{{"Paula M", "paula@zylker.com"}}},                                                                        // Zoho mail details
		{`&quot;Paula M&quot;&lt;paula@zylker.com&gt;,&lt;rebecca@zylker.com&gt;`, []Address{{"Paula M", "paula@zylker.com"}, {"", "rebecca@zylker.com"}}}, // Zoho messages/view
		// Encoded words inside quotes, as many mailers write them (RFC 2047
		// does not allow it; the name is meant decoded all the same).
		{`"=?UTF-8?B?SmFuZSBEb2UsIFJlcG9ydGVy?=" <jane@freelance.example>`, []Address{{"Jane Doe, Reporter", "jane@freelance.example"}}},
		{`&quot;=?ISO-2022-JP?B?GyRCRURDZhsoQiAbJEI1LTxUGyhC?=&quot;&lt;tanaka@example.jp&gt;`, []Address{{"田中 記者", "tanaka@example.jp"}}},
		{`"=?UTF-8?Q?Jos=C3=A9?= Doe" <jose@x.example>, "a =? b" <ab@x.example>`, []Address{{"José Doe", "jose@x.example"}, {"a =? b", "ab@x.example"}}},
		{`not an address, also not`, nil},
		{``, nil},
	}
	for _, c := range cases {
		require.Equal(t, c.want, ParseAddressList(c.in), "input %q", c.in)
	}
}

func TestParseAddressUnknownCharset(t *testing.T) {
	t.Parallel()
	// A charset nobody registered: the mailbox survives with a lossy name
	// instead of being dropped.
	a, ok := ParseAddress(`=?x-no-such-charset?B?1dTA9g==?= <zhao@qq.com>`)
	require.True(t, ok)
	require.Equal(t, "zhao@qq.com", a.Email)
	require.Equal(t, "\uFFFD", a.Name, "its bytes are not UTF-8: replaced, as a run")
}

// Mail in the covered languages is still often sent in the legacy charset
// of its language (RFC 1468 ISO-2022-JP for Japanese, GB2312, EUC-KR,
// KOI8-R, Shift_JIS, Big5): its encoded words decode to the text, in
// subjects and display names alike.
func TestDecodeHeaderCharsets(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ raw, want string }{
		{"=?ISO-2022-JP?B?GyRCPGg6YDBNTWobKEI=?=", "取材依頼"},
		{"=?iso-2022-jp?b?GyRCPGg6YDBNTWobKEI=?=", "取材依頼"},
		{"=?GB2312?B?ssm3w8frx/M=?=", "采访请求"},
		{"=?GBK?B?zfXTm9Xf?=", "王記者"},
		{"=?EUC-KR?B?w+vA5yC/5MO7?=", "취재 요청"},
		{"=?KOI8-R?B?+sHQ0s/TIPPt6Q==?=", "Запрос СМИ"},
		{"=?Shift_JIS?B?juaN3ojLl4o=?=", "取材依頼"},
		{"=?Big5?B?scSzWL3QqEQ=?=", "採訪請求"},
		{"=?ISO-8859-15?B?UHJpeCAxMCCk?=", "Prix 10 €"},
		{"=?latin-9?B?UHJpeCAxMCCk?=", "Prix 10 €"},
		{"=?windows-1252?Q?Ren=E9e_=93RJ=94?=", "Renée “RJ”"},
		{"=?latin-1?Q?Fran=E7ois?=", "François"},
	} {
		require.Equal(t, c.want, DecodeHeader(c.raw), "%s", c.raw)
	}
	a, ok := ParseAddress(`=?GB2312?B?1dTA9g==?= <zhao@qq.com>`)
	require.True(t, ok)
	require.Equal(t, Address{Name: "赵丽", Email: "zhao@qq.com"}, a)
}

func TestDecodeHeader(t *testing.T) {
	t.Parallel()
	require.Equal(t, "Demande d’interview – Le Monde", DecodeHeader("=?UTF-8?Q?Demande_d=E2=80=99interview_=E2=80=93_Le_Monde?="))
	require.Equal(t, "plain =? text", DecodeHeader("plain =? text"))
	require.Equal(t, "bad \uFFFD", DecodeHeader("bad \xff"))
}

// A header of many parts without an "@" (a hostile sender's To) costs
// memory in proportion to its length: the held parts were joined as they
// came, so 300 KB of "x, " allocated tens of gigabytes and took seconds.
// Measured in bytes allocated, not in time: doubling the header must not
// quadruple them.
func TestParseAddressListIsLinear(t *testing.T) {
	alloc := func(n int) uint64 {
		h := strings.Repeat("x, ", n) + "Jane <jane@reuters.com>"
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		got := ParseAddressList(h)
		runtime.ReadMemStats(&after)
		require.Len(t, got, 1)
		require.Equal(t, "jane@reuters.com", got[0].Email)
		return after.TotalAlloc - before.TotalAlloc
	}
	small, large := alloc(5000), alloc(20000)
	require.Less(t, float64(large)/float64(small), 8.0, "4× the parts took %d bytes against %d", large, small)
}

func BenchmarkParseAddressListManyParts(b *testing.B) {
	h := strings.Repeat("x, ", 100000) + "a@b.c"
	for b.Loop() {
		ParseAddressList(h)
	}
}
