package zohocliq

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/connectors/zoho"
)

// config is a connection's provider config.
type config struct {
	// Channels are chat ids ("CT_…") or unique names ("launchroom").
	Channels []string `json:"channels"`
	// TrackMentions reads the user's mentions (every chat); default true.
	TrackMentions *bool `json:"track_mentions,omitempty"`
}

func (c config) mentions() bool { return c.TrackMentions == nil || *c.TrackMentions }

var (
	// chatIDPattern matches a Cliq chat id (CT_<digits>_<digits>); thread
	// chats (…-T-<n>) are not channels.
	chatIDPattern = regexp.MustCompile(`^CT_[0-9]{3,30}_[0-9]{3,30}$`)
	// uniqueNamePattern matches a channel's unique name (lowercase letters,
	// digits, and . _ -).
	uniqueNamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,99}$`)
)

const maxChannels = 50

// Stream names.
const (
	messagesPrefix = "messages:"
	mentionsStream = "mentions"
)

// ValidateConfig implements connectors.ConfigValidator: channels are chat
// ids or unique names (a leading # is dropped and names are lowercased),
// deduplicated and sorted; a config that reads nothing (no channel, no
// mentions) is refused.
func (c *Connector) ValidateConfig(raw json.RawMessage) (json.RawMessage, error) {
	cfg := config{Channels: []string{}}
	if err := connectors.DecodeConfig(raw, &cfg, `{"channels": ["<chat id or unique name>", ...], "track_mentions": true}`); err != nil {
		return nil, err
	}
	fields := map[string]string{}
	out := []string{}
	for i, ch := range cfg.Channels {
		ref, ok := normalizeRef(ch)
		if !ok {
			fields[fmt.Sprintf("channels[%d]", i)] = fmt.Sprintf("%q is neither a Cliq chat id (CT_…) nor a channel's unique name", trunc(ch, 80))
			continue
		}
		out = append(out, ref)
	}
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) > maxChannels {
		fields["channels"] = fmt.Sprintf("at most %d channels", maxChannels)
	}
	if len(fields) == 0 && len(out) == 0 && !cfg.mentions() {
		fields["config"] = "name at least one channel or set track_mentions: nothing would be read"
	}
	if len(fields) > 0 {
		return nil, &connectors.ConfigError{Fields: fields}
	}
	t := cfg.mentions()
	b, err := json.Marshal(config{Channels: out, TrackMentions: &t})
	if err != nil {
		return nil, fmt.Errorf("zoho-cliq: encode config: %w", err)
	}
	return b, nil
}

// normalizeRef reads one configured channel.
func normalizeRef(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if chatIDPattern.MatchString(s) {
		return s, true
	}
	if strings.HasPrefix(strings.ToUpper(s), "CT_") {
		return "", false // a malformed chat id (or a thread's), not a name
	}
	s = strings.ToLower(strings.TrimPrefix(s, "#"))
	return s, uniqueNamePattern.MatchString(s)
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

// Streams implements connectors.Syncer: messages:<ref> per configured
// channel, and mentions when tracked.
func (c *Connector) Streams(conn connectors.Connection) ([]string, error) {
	cfg, err := parseConfig(conn.Config)
	if err != nil {
		return nil, fmt.Errorf("zoho-cliq: streams: %w", err)
	}
	out := make([]string, 0, len(cfg.Channels)+1)
	for _, ch := range cfg.Channels {
		out = append(out, messagesPrefix+ch)
	}
	if cfg.mentions() {
		out = append(out, mentionsStream)
	}
	return out, nil
}

// Route keys. A bot call is verified and names its connection by the URL
// token (tenant and account); the keys bind the connection to what it may
// receive:
//
//	chat:<tenant>:<account>:<chat id>   a message in a channel the connection proved
//	mentions:<tenant>:<account>         the bot was mentioned (connections tracking mentions)
//	bot:<tenant>:<account>              anything else the bot hears (recorded, no Signal)
func chatKey(tenant, account, chat string) string {
	return "chat:" + zoho.ConnectionKey(tenant, account) + ":" + chat
}

func mentionsKey(tenant, account string) string {
	return "mentions:" + zoho.ConnectionKey(tenant, account)
}

func botKey(tenant, account string) string { return "bot:" + zoho.ConnectionKey(tenant, account) }

// RouteKeys implements connectors.Router with the keys the grant itself
// proves: the connection's bot key, and its mentions key when it tracks
// mentions. Channels are routed by their proofs (ProveAccess) only.
func (c *Connector) RouteKeys(conn connectors.Connection) ([]string, error) {
	if conn.Account.ID == "" || conn.TenantID == "" {
		return nil, fmt.Errorf("zoho-cliq: route keys: %w: connection has no tenant or account", connectors.ErrInvalidConfig)
	}
	cfg, err := parseConfig(conn.Config)
	if err != nil {
		return nil, fmt.Errorf("zoho-cliq: route keys: %w", err)
	}
	keys := []string{botKey(conn.TenantID, conn.Account.ID)}
	if cfg.mentions() {
		keys = append(keys, mentionsKey(conn.TenantID, conn.Account.ID))
	}
	return keys, nil
}
