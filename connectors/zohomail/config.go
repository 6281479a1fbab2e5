package zohomail

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/connectors/press"
	"github.com/poblysh/poblysh/connectors/zoho"
)

// config is a connection's provider config.
type config struct {
	// Press are the tenant's own press contacts.
	Press *press.Config `json:"press,omitempty"`
}

// detectorConfig is the config as the press detector takes it.
func (c config) detectorConfig() press.Config {
	if c.Press == nil {
		return press.Config{}
	}
	return *c.Press
}

// Stream names: one per folder read.
const (
	streamInbox = "inbox"
	streamSent  = "sent"
)

// ValidateConfig implements connectors.ConfigValidator: press domains and
// addresses are trimmed, lowercased, deduplicated and sorted, and each must
// be one the detector uses (press.ValidateConfig: no freemail domains, no
// malformed addresses).
func (c *Connector) ValidateConfig(raw json.RawMessage) (json.RawMessage, error) {
	var cfg config
	if err := connectors.DecodeConfig(raw, &cfg, `{"press": {"domains": [...], "addresses": [...]}}`); err != nil {
		return nil, err
	}
	if cfg.Press != nil {
		cfg.Press.Domains = clean(cfg.Press.Domains)
		cfg.Press.Addresses = clean(cfg.Press.Addresses)
		if err := press.ValidateConfig(cfg.detectorConfig()); err != nil {
			var ce *press.ConfigError
			field := "press"
			if errors.As(err, &ce) {
				field = fmt.Sprintf("press.%s[%d]", ce.Field, ce.Index)
			}
			return nil, &connectors.ConfigError{Fields: map[string]string{field: err.Error()}}
		}
		if len(cfg.Press.Domains)+len(cfg.Press.Addresses) > 500 {
			return nil, &connectors.ConfigError{Fields: map[string]string{"press": "at most 500 domains and addresses"}}
		}
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("zoho-mail: encode config: %w", err)
	}
	return b, nil
}

func clean(in []string) []string {
	out := []string{}
	for _, s := range in {
		if s = strings.ToLower(strings.TrimSpace(s)); s != "" {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// parseConfig reads a stored (validated) config.
func parseConfig(raw json.RawMessage) (config, error) {
	var cfg config
	if t := bytes.TrimSpace(raw); len(t) > 0 && !bytes.Equal(t, []byte("null")) {
		if err := json.Unmarshal(t, &cfg); err != nil {
			return config{}, &connectors.ConfigError{Fields: map[string]string{"config": "unreadable: " + err.Error()}}
		}
	}
	return cfg, nil
}

// Streams implements connectors.Syncer: the Inbox and the Sent folder.
func (c *Connector) Streams(connectors.Connection) ([]string, error) {
	return []string{streamInbox, streamSent}, nil
}

// mailboxKey routes a mailbox's webhook nudges to its connection.
func mailboxKey(tenant, account string) string {
	return "mailbox:" + zoho.ConnectionKey(tenant, account)
}

// RouteKeys implements connectors.Router: the connection's own mailbox key,
// which only a delivery carrying the connection's URL token names.
func (c *Connector) RouteKeys(conn connectors.Connection) ([]string, error) {
	if conn.Account.ID == "" || conn.TenantID == "" {
		return nil, fmt.Errorf("zoho-mail: route keys: %w: connection has no tenant or account", connectors.ErrInvalidConfig)
	}
	return []string{mailboxKey(conn.TenantID, conn.Account.ID)}, nil
}
