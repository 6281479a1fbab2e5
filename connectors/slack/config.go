package slack

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/poblysh/poblysh/connectors"
)

// config is a connection's provider config.
type config struct {
	// Channels are the channel ids to sync; empty means every channel the
	// bot is a member of.
	Channels []string `json:"channels"`
	// ThreadLookback ("7d", "36h", "0") is how far back an incremental
	// sync looks for threads that got new replies; absent means
	// defaultThreadLookback, "0" turns it off.
	ThreadLookback *string `json:"thread_lookback,omitempty"`
}

// defaultThreadLookback and maxThreadLookback bound thread_lookback.
const (
	defaultThreadLookback = 7 * 24 * time.Hour
	maxThreadLookback     = 90 * 24 * time.Hour
)

// parseLookback reads a thread_lookback value: whole days ("7d") or a Go
// duration ("36h"), from 0 (off) to 90 days.
func parseLookback(v string) (time.Duration, error) {
	v = strings.TrimSpace(v)
	var d time.Duration
	if days, ok := strings.CutSuffix(v, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil {
			return 0, fmt.Errorf("%q is not a number of days", v)
		}
		if n < 0 || n > int(maxThreadLookback/(24*time.Hour)) {
			// Checked as days: a large count wraps the duration
			// around, back inside the range.
			return 0, fmt.Errorf("must be from 0 (off) to 90d, got %q", v)
		}
		d = time.Duration(n) * 24 * time.Hour
	} else if v == "0" {
		d = 0
	} else {
		var err error
		if d, err = time.ParseDuration(v); err != nil {
			return 0, fmt.Errorf("%q is neither days (7d) nor a duration (36h)", v)
		}
	}
	if d < 0 || d > maxThreadLookback {
		return 0, fmt.Errorf("must be from 0 (off) to 90d, got %q", v)
	}
	return d, nil
}

// threadLookback is the connection's thread_lookback.
func (cfg config) threadLookback() time.Duration {
	if cfg.ThreadLookback == nil {
		return defaultThreadLookback
	}
	d, err := parseLookback(*cfg.ThreadLookback)
	if err != nil {
		return defaultThreadLookback
	}
	return d
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
	if err := connectors.DecodeConfig(raw, &cfg, `{"channels": ["C0123ABCD", ...], "thread_lookback": "7d"}`); err != nil {
		return nil, err
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
	if cfg.ThreadLookback != nil {
		if _, err := parseLookback(*cfg.ThreadLookback); err != nil {
			fields["thread_lookback"] = err.Error()
		} else {
			v := strings.TrimSpace(*cfg.ThreadLookback)
			cfg.ThreadLookback = &v
		}
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
// bot is a member of, discovered on each sync) when none is configured;
// and for an org-wide install the "workspaces" stream (workspaces.go).
func (c *Connector) Streams(conn connectors.Connection) ([]string, error) {
	cfg, err := parseConfig(conn.Config)
	if err != nil {
		return nil, fmt.Errorf("slack: streams: %w", err)
	}
	out := make([]string, 0, len(cfg.Channels)+1)
	for _, ch := range cfg.Channels {
		out = append(out, historyPrefix+ch)
	}
	if len(cfg.Channels) == 0 {
		out = append(out, membersStream)
	}
	if orgInstall(conn.Account) {
		out = append(out, workspacesStream)
	}
	return out, nil
}

// Route keys. Deliveries and connections meet on these (docs/providers/slack.md):
//
//	channel:<channel id>        an event in that channel; routed by the
//	                            connections that proved the bot is in it
//	                            (and, for its reactions, by connections
//	                            without configured channels whose listing
//	                            names it: their "channels" resource)
//	team:<team id>              an event but a reaction, delivered for that
//	                            workspace's install;
//	enterprise:<enterprise id>  ...or for that org's org-wide install; routed by
//	                            connections without configured channels
//	app:<team or enterprise>    news about the install itself (app_rate_limited,
//	                            app_uninstalled, tokens_revoked: a workspace;
//	                            team_access_*: an org); routed by every
//	                            connection of the account, and by an org-wide
//	                            install's for each workspace it was granted
//	                            (its "workspaces" resource, workspaces.go)
const (
	channelKeyPrefix    = "channel:"
	teamKeyPrefix       = "team:"
	enterpriseKeyPrefix = "enterprise:"
	appKeyPrefix        = "app:"
)

// channelKey is the key of an event in a channel.
func channelKey(channelID string) string { return channelKeyPrefix + channelID }

// installKey is the key of events delivered for an account's install: the
// workspace's, or the org's for an org-wide install.
func installKey(acct connectors.Account) string {
	if orgInstall(acct) {
		return enterpriseKeyPrefix + acct.ID
	}
	return teamKeyPrefix + acct.ID
}

// RouteKeys implements connectors.Router with the keys the grant itself
// proves: the install's app key and, for a connection that asked for every
// channel the bot is in, the install key. (An org-wide install's
// workspaces, and the channels of a connection reading every channel, for
// their reactions, are routed by their proof instead, ProveAccess.) Slack sends an app the events of
// the channels its bot is a member of only, and an account is held by one
// tenant (Spec.ExclusiveAccount), so every channel event of the install
// belongs to that connection. Configured channels are routed by their
// proofs instead (ProveAccess), never by the workspace alone.
func (c *Connector) RouteKeys(conn connectors.Connection) ([]string, error) {
	if conn.Account.ID == "" {
		return nil, fmt.Errorf("slack: route keys: %w: connection has no team or enterprise id", connectors.ErrInvalidConfig)
	}
	cfg, err := parseConfig(conn.Config)
	if err != nil {
		return nil, fmt.Errorf("slack: route keys: %w", err)
	}
	keys := []string{appKeyPrefix + conn.Account.ID}
	if len(cfg.Channels) == 0 {
		keys = append(keys, installKey(conn.Account))
	}
	return keys, nil
}
