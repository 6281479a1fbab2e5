package gmail

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/connectors/press"
)

// Limits of a connection's config.
const (
	maxLabels       = 20
	maxContacts     = 500
	maxBackfillDays = 365
)

// Label ids of the two default streams.
const (
	LabelInbox = "INBOX"
	LabelSent  = "SENT"
)

// labelDraft marks a draft: never a stream's mail, and never a stream.
const labelDraft = "DRAFT"

// notMail says whether a message with these labels is none of the
// mailbox's mail: a draft, or in Spam or Trash. messages.list leaves Spam
// and Trash out (includeSpamTrash is false by default), so the backfill
// never reads them; history.list has no such filter and names them too,
// under any other label they carry (UNREAD, CATEGORY_*, a user label), so
// every pass checks the labels the message has when it is read.
func notMail(labels []string) bool {
	return contains(labels, labelDraft) || contains(labels, "SPAM") || contains(labels, "TRASH")
}

// MailboxRef names the connected mailbox as a resource: proved with
// users.getProfile, it carries the route key Pub/Sub pushes are routed by
// (the mailbox's address) and is what users.watch watches.
const MailboxRef = "mailbox"

// streamPrefix starts every stream name: "label:<labelId>".
const streamPrefix = "label:"

// systemLabels are Gmail's system label ids; they are accepted in any case.
var systemLabels = []string{"INBOX", "SENT", "IMPORTANT", "STARRED", "UNREAD", "SPAM", "TRASH", "DRAFT",
	"CATEGORY_PERSONAL", "CATEGORY_SOCIAL", "CATEGORY_PROMOTIONS", "CATEGORY_UPDATES", "CATEGORY_FORUMS"}

// labelID is the shape of a Gmail label id (system ids, "Label_12").
var labelID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,100}$`)

// Config is a connection's provider config.
type Config struct {
	// Labels are the label ids to follow (default INBOX and SENT).
	Labels []string `json:"labels"`
	// PressDomains and PressAddresses are the tenant's own press contacts.
	PressDomains   []string `json:"press_domains"`
	PressAddresses []string `json:"press_addresses"`
	// BackfillDays bounds the first backfill (0: the provider default).
	BackfillDays int `json:"backfill_days,omitempty"`
}

// press is the detector config of the connection's contacts.
func (c Config) press() press.Config {
	return press.Config{Domains: c.PressDomains, Addresses: c.PressAddresses}
}

// ValidateConfig checks and normalizes the config: labels are trimmed,
// system labels upper-cased and duplicates dropped (none means INBOX and
// SENT); press contacts must be domains and addresses the detector can use
// (a freemail domain or a public suffix is refused: it would make every
// sender there press); unknown fields are rejected.
func (c *Connector) ValidateConfig(raw json.RawMessage) (json.RawMessage, error) {
	cfg, err := parseConfig(raw, false)
	if err != nil {
		return nil, err
	}
	out, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("gmail: encode config: %w", err)
	}
	return out, nil
}

// parseConfig reads a config; stored is true for a connection's, which
// was validated when it was saved: its press contacts are then left to the
// detector, which ignores an entry it cannot use (a public suffix saved
// before ValidateConfig refused one), rather than failing every pass.
func parseConfig(raw json.RawMessage, stored bool) (Config, error) {
	var cfg Config
	if err := connectors.DecodeConfig(raw, &cfg, `{"labels": ["INBOX", "SENT"], "press_domains": [...], "press_addresses": [...]}`); err != nil {
		return Config{}, err
	}
	if len(cfg.Labels) > maxLabels {
		return Config{}, &connectors.ConfigError{Fields: map[string]string{"labels": fmt.Sprintf("at most %d", maxLabels)}}
	}
	var labels []string
	for i, l := range cfg.Labels {
		l = strings.TrimSpace(l)
		for _, sys := range systemLabels {
			if strings.EqualFold(l, sys) {
				l = sys
			}
		}
		if !labelID.MatchString(l) {
			return Config{}, &connectors.ConfigError{Fields: map[string]string{
				fmt.Sprintf("labels[%d]", i): "must be a label id: INBOX, SENT, or a user label's id like Label_12",
			}}
		}
		if l == labelDraft || l == "SPAM" || l == "TRASH" {
			return Config{}, &connectors.ConfigError{Fields: map[string]string{fmt.Sprintf("labels[%d]", i): l + " is not mail that was received or sent"}}
		}
		if !contains(labels, l) {
			labels = append(labels, l)
		}
	}
	if len(labels) == 0 {
		labels = []string{LabelInbox, LabelSent}
	}
	cfg.Labels = labels
	if len(cfg.PressDomains)+len(cfg.PressAddresses) > maxContacts {
		return Config{}, &connectors.ConfigError{Fields: map[string]string{"press_domains": fmt.Sprintf("at most %d press contacts", maxContacts)}}
	}
	cfg.PressDomains = trimAll(cfg.PressDomains)
	cfg.PressAddresses = trimAll(cfg.PressAddresses)
	if err := press.ValidateConfig(cfg.press()); err != nil && !stored {
		var ce *press.ConfigError
		if errors.As(err, &ce) {
			return Config{}, &connectors.ConfigError{Fields: map[string]string{
				fmt.Sprintf("press_%s[%d]", ce.Field, ce.Index): ce.Reason,
			}}
		}
		return Config{}, fmt.Errorf("gmail: press contacts: %w", err)
	}
	if err := connectors.CheckBackfillDays(raw, cfg.BackfillDays, maxBackfillDays); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

func trimAll(in []string) []string {
	out := []string{}
	for _, s := range in {
		if s = strings.TrimSpace(s); s != "" && !contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// config returns a connection's validated config.
func config(conn connectors.Connection) (Config, error) {
	cfg, err := parseConfig(conn.Config, true)
	if err != nil {
		return Config{}, fmt.Errorf("gmail: connection config: %w", err)
	}
	return cfg, nil
}

// Streams lists one stream per label: "label:<labelId>".
func (c *Connector) Streams(conn connectors.Connection) ([]string, error) {
	cfg, err := config(conn)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(cfg.Labels))
	for _, l := range cfg.Labels {
		out = append(out, streamPrefix+l)
	}
	return out, nil
}

// labelOfStream returns the label a stream reads.
func labelOfStream(stream string) (string, error) {
	l, ok := strings.CutPrefix(stream, streamPrefix)
	if !ok || !labelID.MatchString(l) {
		return "", fmt.Errorf("gmail: %w: unknown stream %q", connectors.ErrInvalidConfig, stream)
	}
	return l, nil
}

// backfillWindow is the connection's backfill window in days.
func (c *Connector) backfillWindow(cfg Config) int {
	if cfg.BackfillDays > 0 {
		return cfg.BackfillDays
	}
	return c.backfillDays
}
