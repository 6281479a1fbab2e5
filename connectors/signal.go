package connectors

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Signal is a normalized happening at a provider, as a connector produces it.
// The engine adds the id, source, tenant, connection and ingestion time.
type Signal struct {
	// Kind is a catalog kind ("pull_request.merged").
	Kind string
	// OccurredAt is when it happened at the provider (the API's "timestamp").
	OccurredAt time.Time
	// DedupeKey is the provider's stable id of the happening plus the kind,
	// the same whether the Signal came from a webhook or a backfill
	// ("pr:1296269:merged"). The engine prefixes it with the provider name.
	DedupeKey string
	// AliasKeys are further keys of the same happening: a later Signal whose
	// DedupeKey equals one of them is a duplicate (a GitHub push Signal lists
	// the commits it carries, so a backfill of those commits adds nothing).
	AliasKeys []string
	// MatchKeys are keys the same happening may already be stored under,
	// as a dedupe key or an alias: the Signal is a duplicate when one of
	// them is. Unlike AliasKeys they claim nothing (a GitHub commit read
	// on the default branch matches the key by the branch's name that a
	// push to the branch stored before it became the default one).
	MatchKeys []string
	// Payload is the provider-agnostic body.
	Payload Payload
	// Raw is the provider object it came from, kept while raw retention allows.
	Raw json.RawMessage
}

// Payload is the common core every consumer relies on, plus provider details
// in Attributes (documented per kind in the catalog).
type Payload struct {
	Title      string         `json:"title"`
	URL        string         `json:"url"`
	Actor      Actor          `json:"actor"`
	Subject    Ref            `json:"subject"`
	Context    Ref            `json:"context"`
	Attributes map[string]any `json:"attributes"`
}

// Actor is who caused the happening.
type Actor struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email,omitempty"`
	// Bot is true when the actor is an automation (a GitHub App's "[bot]"
	// account, a Slack bot), so consumers can filter it out.
	Bot bool `json:"bot,omitempty"`
}

// Ref points at a provider object: the subject (PR, message, event) or its
// context (repository, channel, calendar). A subject's name is optional; a
// context's is not (ValidateSignal): a connector that knows no name for it
// gives its id.
type Ref struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

// ValidateSignal checks a Signal against the kind catalog and the spec: known
// kind the spec declares, timestamp, dedupe key, title, subject, context
// (with its name), and every required attribute of the kind.
func ValidateSignal(spec *Spec, s Signal) error {
	var problems []string
	k, ok := Catalog[s.Kind]
	switch {
	case !ok:
		problems = append(problems, fmt.Sprintf("kind %q is not in the catalog", s.Kind))
	case !slices.Contains(spec.Kinds, s.Kind):
		problems = append(problems, fmt.Sprintf("kind %q is not declared by provider %s", s.Kind, spec.Name))
	}
	if s.OccurredAt.IsZero() {
		problems = append(problems, "occurred_at is zero")
	}
	if s.DedupeKey == "" {
		problems = append(problems, "dedupe key is empty")
	}
	if strings.TrimSpace(s.Payload.Title) == "" {
		problems = append(problems, "payload.title is empty")
	}
	if s.Payload.Subject.Type == "" || s.Payload.Subject.ID == "" {
		problems = append(problems, "payload.subject needs type and id")
	}
	if s.Payload.Context.Type == "" || s.Payload.Context.ID == "" {
		problems = append(problems, "payload.context needs type and id")
	}
	if strings.TrimSpace(s.Payload.Context.Name) == "" {
		problems = append(problems, "payload.context needs a name (its id when no name is known)")
	}
	if ok {
		for _, a := range k.Attributes {
			if !a.Required {
				continue
			}
			if _, has := s.Payload.Attributes[a.Name]; !has {
				problems = append(problems, fmt.Sprintf("attribute %q is required for %s", a.Name, s.Kind))
			}
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}
