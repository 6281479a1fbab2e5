package connectors

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// kindSource is one row of the architecture's kind table (§6): a provider
// event and the kinds it yields.
type kindSource struct {
	Provider string
	Event    string
	Kinds    []string
}

// kindSources is the architecture's kind table (§6), in its order. It names
// providers that have no connector yet, so it is kept here rather than
// derived from the registry. The first provider of a kind is the one its
// catalog example is written for.
var kindSources = []kindSource{
	{"slack", "message in a configured channel", []string{"message.posted"}},
	{"slack", "reaction added", []string{"reaction.added"}},
	{"zoho-cliq", "message", []string{"message.posted"}},
	{"zoho-cliq", "reaction (if the provider exposes it)", []string{"reaction.added"}},
	{"zoho-cliq", "mention of a tracked user/bot", []string{"mention.created"}},
	{"github", "push to a branch", []string{"code.pushed"}},
	{"github", "pull request opened / merged / closed unmerged", []string{"pull_request.opened", "pull_request.merged", "pull_request.closed"}},
	{"github", "release published", []string{"release.published"}},
	{"jira", "issue created / updated / status changed", []string{"issue.created", "issue.updated", "issue.status_changed"}},
	{"google-drive", "file created / edited", []string{"document.created", "document.updated"}},
	{"google-drive", "file trashed / made public or opened to another domain", []string{"document.trashed", "document.shared"}},
	{"google-calendar", "event created / updated / cancelled", []string{"calendar_event.created", "calendar_event.updated", "calendar_event.cancelled"}},
	{"gmail", "new thread", []string{"email.thread_started"}},
	{"gmail", "thread with a journalist or media contact (tenant-configured domains/addresses)", []string{"email.press_thread"}},
	{"zoho-mail", "inbound / outbound message", []string{"email.received", "email.sent"}},
	{"gmail", "inbound / outbound message (by the message's SENT label)", []string{"email.received", "email.sent"}},
	{"zoho-mail", "new thread", []string{"email.thread_started"}},
	{"zoho-mail", "thread with a journalist or media contact (shared detector, tenant-configured domains/addresses)", []string{"email.press_thread"}},
}

// Fixed placeholders of the example Signals in docs/signal-kinds.md.
const (
	exampleSignalID     = "4f3e2d1c-0b9a-4877-8665-5443322110ff"
	exampleConnectionID = "3d9f1e2a-7c4b-4a8e-b6d5-0e1f2a3b4c5d"
	exampleTimestamp    = "2025-06-05T13:58:42Z"
	exampleIngestedAt   = "2025-06-05T13:58:44Z"
)

// exampleSignal is a Signal as the API answers it (without raw).
type exampleSignal struct {
	ID           string  `json:"id"`
	Source       string  `json:"source"`
	Kind         string  `json:"kind"`
	Timestamp    string  `json:"timestamp"`
	Payload      Payload `json:"payload"`
	ConnectionID string  `json:"connection_id"`
	IngestedAt   string  `json:"ingested_at"`
}

// docKinds is every catalog kind in documentation order: as they first
// appear in kindSources, then any kind the table lacks, sorted.
func docKinds() []string {
	var out []string
	for _, s := range kindSources {
		for _, k := range s.Kinds {
			if _, ok := Catalog[k]; ok && !slices.Contains(out, k) {
				out = append(out, k)
			}
		}
	}
	for _, k := range KindNames() {
		if !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out
}

// kindProviders lists the providers that produce kind, in table order.
func kindProviders(kind string) []string {
	var out []string
	for _, s := range kindSources {
		if slices.Contains(s.Kinds, kind) && !slices.Contains(out, s.Provider) {
			out = append(out, s.Provider)
		}
	}
	return out
}

// ExampleKinds lists, in documentation order, the kinds whose catalog
// example is written for provider: those it is the first provider of in
// the kind table. The conformance suite checks each is the provider's own
// normalizer output.
func ExampleKinds(provider string) []string {
	var out []string
	for _, k := range docKinds() {
		if ps := kindProviders(k); len(ps) > 0 && ps[0] == provider {
			out = append(out, k)
		}
	}
	return out
}

// exampleSignalJSON is the example of kind as the full Signal JSON the API
// answers, with fixed placeholder ids and times, indented.
func exampleSignalJSON(kind string) (string, error) {
	k, ok := Catalog[kind]
	if !ok {
		return "", fmt.Errorf("kind %q is not in the catalog", kind)
	}
	source := "unknown"
	if ps := kindProviders(kind); len(ps) > 0 {
		source = ps[0]
	}
	payload := k.Example
	if payload.Attributes == nil {
		payload.Attributes = map[string]any{}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	err := enc.Encode(exampleSignal{
		ID: exampleSignalID, Source: source, Kind: kind, Timestamp: exampleTimestamp,
		Payload: payload, ConnectionID: exampleConnectionID, IngestedAt: exampleIngestedAt,
	})
	if err != nil {
		return "", fmt.Errorf("kind %s: encode example: %w", kind, err)
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

// CatalogMarkdown renders docs/signal-kinds.md from the kind catalog: the
// Signal and its payload core, dedupe semantics, the kinds by provider, then
// every kind with its attributes and an example Signal. The output is
// deterministic.
func CatalogMarkdown() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }

	w("# Signal kinds\n\n")
	w("<!-- Generated from connectors/kinds.go and connectors/kinds_examples.go\n")
	w("     by `go test ./connectors -run TestSignalKindsDoc -update`. Do not edit. -->\n\n")
	w("A **Signal** is one happening at a provider worth a PR team's attention: a\n")
	w("message posted, a pull request merged, a calendar event moved. Connectors\n")
	w("normalize provider webhooks and sync pages into Signals; each is stored once\n")
	w("per tenant and read through `GET /api/v1/signals` (see [api.md](api.md)).\n")
	w("`kind` names the happening, not the provider, so a consumer treats a Slack\n")
	w("message and a Zoho Cliq message alike.\n\n")

	w("## The Signal\n\n")
	w("| Field | Type | Description |\n|---|---|---|\n")
	w("| `id` | uuid | The Signal's id. |\n")
	w("| `source` | string | Provider name (`github`, `slack`, ...). |\n")
	w("| `kind` | string | A kind from this catalog. |\n")
	w("| `timestamp` | RFC 3339 | When it happened at the provider. |\n")
	w("| `payload` | object | The common core below plus the kind's `attributes`. |\n")
	w("| `connection_id` | uuid | The connection it came from. |\n")
	w("| `ingested_at` | RFC 3339 | When it was stored. |\n\n")
	w("`GET /api/v1/signals/{id}` also answers `raw`, the provider object the Signal\n")
	w("came from, while raw retention keeps it.\n\n")

	w("## The payload core\n\n")
	w("Every payload has the same core, whatever the provider:\n\n")
	w("| Field | Description |\n|---|---|\n")
	w("| `title` | Short human summary. |\n")
	w("| `url` | Link to the item at the provider (empty when the provider has none). |\n")
	w("| `actor` | Who caused it: `{id, name, email?, bot?}`. `email` only when the kind needs it; `name` may be empty when the provider gives only an id; `bot: true` marks an automation (a GitHub App's `[bot]` account, a Slack bot user), absent otherwise. `id` and `name` are both empty when the provider does not say who caused it: a pull request merged or closed as a backfill reads it (GitHub's pull request list names no merger or closer), a Google Calendar event deleted with only its id known, a Slack `reaction.added` standing for the people a truncated list left out, a Google Drive file last changed by no signed-in user (Drive gives `lastModifyingUser` only for those), a Google Drive `document.shared` or `document.created` with `reason: moved_in` (Drive names no one who shared or moved a file), a Google Drive `document.trashed` of a My Drive file (Drive names who trashed a file for shared drive items only). |\n")
	w("| `subject` | The provider object it is about: `{type, id, name?}` (pull request, message, event...). |\n")
	w("| `context` | Where it happened: `{type, id, name}` (repository, channel, project, calendar, folder...). `name` is always present: the provider's name for it, or its `id` when none is known (a Slack channel pushed before any sync of the process looked it up). |\n")
	w("| `attributes` | Provider details, documented per kind below. |\n\n")
	w("Required attributes are always present; optional ones may be absent.\n")
	w("Attribute types: `string`, `integer`, `boolean`, `timestamp` (an RFC 3339\n")
	w("string), `array`, `object`. Ignore attributes not listed here.\n\n")

	w("## Dedupe\n\n")
	w("A Signal is stored once per tenant under a dedupe key: the provider name plus\n")
	w("the provider's stable id of the happening and the kind (for example\n")
	w("`github` + `pr:1347100006:merged`). A webhook delivery and a later backfill or\n")
	w("sync of the same happening derive the same key, so the second stores nothing.\n")
	w("A Signal may carry further keys of the same happening: a `code.pushed` from a\n")
	w("push webhook also claims every commit it carries, so backfilling those commits\n")
	w("adds nothing. A Signal may also be a duplicate of one stored under another\n")
	w("name for the same happening: a GitHub commit read from the default branch is\n")
	w("one of a commit pushed or read under the branch's former name, so a backfill\n")
	w("after the default branch is renamed adds nothing either. A new happening on\n")
	w("the same object gets a new key: an event edited again yields another\n")
	w("`calendar_event.updated`, a pull request closed, reopened and closed again\n")
	w("another `pull_request.closed`, a calendar event cancelled, restored and\n")
	w("cancelled again another `calendar_event.cancelled`, a Google Drive file moved\n")
	w("out of the tracked folders and back in another `document.created`. The key is\n")
	w("internal; it is not part of the Signal JSON.\n\n")

	w("## Kinds by provider\n\n")
	w("| Provider | Event | Kinds |\n|---|---|---|\n")
	for _, s := range kindSources {
		links := make([]string, len(s.Kinds))
		for i, k := range s.Kinds {
			links[i] = fmt.Sprintf("[`%s`](#%s)", k, anchor(k))
		}
		w("| `%s` | %s | %s |\n", s.Provider, cell(s.Event), strings.Join(links, " / "))
	}
	w("\nExamples below use fixed placeholder ids and times for `id`,\n")
	w("`connection_id`, `timestamp` and `ingested_at`. Each payload is what the\n")
	w("kind's first provider above sends for one of its recorded test fixtures:\n")
	w("the provider's conformance suite fails when an example differs from its\n")
	w("normalizer's output.\n")

	w("\n## Kinds\n")
	for _, kind := range docKinds() {
		k := Catalog[kind]
		ps := kindProviders(kind)
		w("\n### `%s`\n\n%s\n\n", kind, k.Description)
		if len(ps) > 0 {
			w("Produced by: %s.\n\n", "`"+strings.Join(ps, "`, `")+"`")
		} else {
			w("Produced by: no provider yet.\n\n")
		}
		if len(k.Attributes) > 0 {
			w("| Attribute | Type | Required | Description |\n|---|---|---|---|\n")
			for _, a := range k.Attributes {
				required := "no"
				if a.Required {
					required = "yes"
				}
				w("| `%s` | %s | %s | %s |\n", a.Name, a.Type, required, cell(a.Description))
			}
			w("\n")
		}
		ex, err := exampleSignalJSON(kind)
		if err != nil {
			ex = err.Error()
		}
		if len(ps) > 0 {
			w("Example from `%s`:\n\n", ps[0])
		} else {
			w("Example:\n\n")
		}
		w("```json\n%s\n```\n", ex)
	}
	return b.String()
}

// anchor is the GitHub heading anchor of a kind heading (### `a.b_c`):
// lower case, punctuation other than - and _ dropped.
func anchor(kind string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(kind) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteRune('-')
		}
	}
	return b.String()
}

// cell escapes text for a Markdown table cell.
func cell(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "|", `\|`), "\n", " ")
}
