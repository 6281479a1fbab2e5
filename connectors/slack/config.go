package slack

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/poblysh/poblysh/connectors"
)

// config is a connection's provider config.
type config struct {
	// Channels are the channel ids to sync; empty means every channel the
	// bot is a member of.
	Channels []string `json:"channels"`
}

// channelIDPattern matches public and private channel ids (C…, legacy G…);
// DMs (D…) are not supported.
var channelIDPattern = regexp.MustCompile(`^[CG][A-Z0-9]{6,20}$`)

// membersStream is the single stream of connections without configured
// channels: every channel the bot is a member of.
const membersStream = "channels"

// historyPrefix starts the per-channel stream names.
const historyPrefix = "history:"

// ValidateConfig implements connectors.ConfigValidator. It accepts an empty
// config (every member channel), trims and de-duplicates channel ids,
// sorts them and rejects anything that is not a channel id.
func (c *Connector) ValidateConfig(raw json.RawMessage) (json.RawMessage, error) {
	cfg := config{Channels: []string{}}
	if t := bytes.TrimSpace(raw); len(t) > 0 && !bytes.Equal(t, []byte("null")) {
		dec := json.NewDecoder(bytes.NewReader(t))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&cfg); err != nil {
			return nil, &connectors.ConfigError{Fields: map[string]string{
				"config": fmt.Sprintf(`must be {"channels": ["C0123ABCD", ...]}: %v`, err),
			}}
		}
	}
	fields := map[string]string{}
	out := []string{}
	for i, ch := range cfg.Channels {
		ch = strings.TrimSpace(ch)
		if !channelIDPattern.MatchString(ch) {
			fields[fmt.Sprintf("channels[%d]", i)] = fmt.Sprintf("%q is not a Slack channel id (C0123ABCD); use the id, not the #name", ch)
			continue
		}
		out = append(out, ch)
	}
	if len(fields) > 0 {
		return nil, &connectors.ConfigError{Fields: fields}
	}
	slices.Sort(out)
	cfg.Channels = slices.Compact(out)
	b, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("slack: encode config: %w", err)
	}
	return b, nil
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

// Streams implements connectors.Syncer: one history:<channel id> stream per
// configured channel, or the single "channels" stream (every channel the
// bot is a member of, discovered on each sync) when none is configured.
func (c *Connector) Streams(conn connectors.Connection) ([]string, error) {
	cfg, err := parseConfig(conn.Config)
	if err != nil {
		return nil, fmt.Errorf("slack: streams: %w", err)
	}
	if len(cfg.Channels) == 0 {
		return []string{membersStream}, nil
	}
	out := make([]string, 0, len(cfg.Channels))
	for _, ch := range cfg.Channels {
		out = append(out, historyPrefix+ch)
	}
	return out, nil
}

// routeKey is the key Events API deliveries of a workspace carry.
func routeKey(teamID string) string { return "team:" + teamID }

// RouteKeys implements connectors.Router: a connection receives the
// deliveries of its workspace.
func (c *Connector) RouteKeys(conn connectors.Connection) ([]string, error) {
	if conn.Account.ID == "" {
		return nil, fmt.Errorf("slack: route keys: %w: connection has no team id", connectors.ErrInvalidConfig)
	}
	return []string{routeKey(conn.Account.ID)}, nil
}

// Wants implements connectors.SignalFilter: with channels configured, only
// Signals of those channels are kept. Slack sends events of every channel
// the bot is in, so a bot invited to more channels than selected would
// otherwise leak them.
func (c *Connector) Wants(conn connectors.Connection, s connectors.Signal) bool {
	cfg, err := parseConfig(conn.Config)
	if err != nil || len(cfg.Channels) == 0 {
		return err == nil
	}
	ch, _ := s.Payload.Attributes["channel_id"].(string)
	return slices.Contains(cfg.Channels, ch)
}
