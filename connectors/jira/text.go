package jira

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// maxText bounds a normalized description, in bytes.
const maxText = 2048

// plainText turns a rich-text field into plain text of at most 2 KB:
// webhook bodies carry the REST v2 form (a wiki-markup string), REST v3
// answers carry Atlassian Document Format (a JSON document). null is "".
func plainText(raw json.RawMessage) string {
	raw = json.RawMessage(strings.TrimSpace(string(raw)))
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var out string
	switch raw[0] {
	case '"':
		var s string
		if json.Unmarshal(raw, &s) == nil {
			out = wikiText(s)
		}
	case '{':
		var n adfNode
		if json.Unmarshal(raw, &n) == nil {
			var b strings.Builder
			n.write(&b)
			out = b.String()
		}
	}
	return truncate(tidy(out), maxText)
}

// adfNode is a node of an Atlassian Document Format document.
type adfNode struct {
	Type    string         `json:"type"`
	Text    string         `json:"text"`
	Attrs   map[string]any `json:"attrs"`
	Content []adfNode      `json:"content"`
}

// blocks end with a line break; inline nodes do not.
var adfBlocks = map[string]bool{
	"paragraph": true, "heading": true, "blockquote": true, "codeBlock": true,
	"rule": true, "panel": true, "tableRow": true, "mediaSingle": true, "mediaGroup": true,
	"expand": true, "nestedExpand": true, "taskItem": true, "decisionItem": true,
}

func (n adfNode) write(b *strings.Builder) {
	attr := func(k string) string {
		s, _ := n.Attrs[k].(string)
		return s
	}
	switch n.Type {
	case "text":
		b.WriteString(n.Text)
	case "hardBreak":
		b.WriteString("\n")
	case "mention", "status":
		b.WriteString(attr("text"))
	case "emoji":
		b.WriteString(cmpOr(attr("text"), attr("shortName")))
	case "inlineCard", "blockCard", "embedCard":
		b.WriteString(attr("url"))
	case "date":
		// attrs.timestamp is milliseconds since the epoch, as a string
		// (ADF date node); Jira shows the UTC day.
		ts := attr("timestamp")
		if ms, err := strconv.ParseInt(ts, 10, 64); err == nil {
			ts = time.UnixMilli(ms).UTC().Format("2006-01-02")
		}
		b.WriteString(ts)
	case "listItem", "taskItem", "decisionItem":
		b.WriteString("- ")
	case "tableCell", "tableHeader":
		defer b.WriteString(" | ")
	}
	for _, c := range n.Content {
		c.write(b)
	}
	if adfBlocks[n.Type] {
		b.WriteString("\n")
	}
}

var (
	wikiLinkRE    = regexp.MustCompile(`\[([^\]|\n]*)\|([^\]\n]*)\]`)
	wikiBareRE    = regexp.MustCompile(`\[((?:https?|mailto):[^\]\n]*)\]`)
	wikiMacroRE   = regexp.MustCompile(`\{(?:code|noformat|quote|panel|color|anchor)(?::[^}\n]*)?\}`)
	wikiHeadRE    = regexp.MustCompile(`(?m)^[ \t]*(?:h[1-6]\.|bq\.)[ \t]*`)
	wikiBulletRE  = regexp.MustCompile(`(?m)^[ \t]*[*#-]+[ \t]+`)
	wikiImageRE   = regexp.MustCompile(`![^!\s][^!\n]*!`)
	wikiMonoRE    = regexp.MustCompile(`\{\{([^}\n]*)\}\}`)
	wikiMentionRE = regexp.MustCompile(`\[~(?:accountid:)?([^\]\n]*)\]`)
	wikiTableRE   = regexp.MustCompile(`\|\|?`)
	wikiEmphRE    = regexp.MustCompile(`(^|[\s(])[*_+]([^\s*_+][^*_+\n]*?)[*_+]($|[\s.,;:!?)])`)
)

// wikiText strips Jira wiki markup down to its text: links keep their
// label, macros ({code}, {quote}, {color:…}) and images go, headings and
// bullets lose their markers, *bold*, _italic_ and +underline+ their
// delimiters.
func wikiText(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = wikiMentionRE.ReplaceAllString(s, "@$1")
	s = wikiLinkRE.ReplaceAllString(s, "$1")
	s = wikiBareRE.ReplaceAllString(s, "$1")
	s = wikiMacroRE.ReplaceAllString(s, "")
	s = wikiImageRE.ReplaceAllString(s, "")
	s = wikiMonoRE.ReplaceAllString(s, "$1")
	s = wikiHeadRE.ReplaceAllString(s, "")
	s = wikiBulletRE.ReplaceAllString(s, "- ")
	s = wikiTableRE.ReplaceAllString(s, " | ")
	for range 2 { // nested or adjacent emphasis
		s = wikiEmphRE.ReplaceAllString(s, "$1$2$3")
	}
	return s
}

var blankLinesRE = regexp.MustCompile(`\n{3,}`)

// tidy trims the lines and collapses runs of blank lines.
func tidy(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSpace(l)
	}
	return strings.TrimSpace(blankLinesRE.ReplaceAllString(strings.Join(lines, "\n"), "\n\n"))
}

// truncate cuts s to at most n bytes on a rune boundary, ending with "…"
// when cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strings.TrimRight(s[:cut], " \n") + "…"
}
