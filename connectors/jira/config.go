package jira

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/poblysh/poblysh/connectors"
)

// Config is a connection's provider config.
type Config struct {
	// Site picks the Jira site when the authorization reaches several: its
	// cloud id (lowercase) or its URL ("https://acme.atlassian.net").
	Site string `json:"site,omitempty"`
	// Projects are the project keys to follow, uppercase.
	Projects []string `json:"projects"`
	// BackfillDays bounds the first backfill (0: DefaultBackfillDays).
	BackfillDays int `json:"backfill_days,omitempty"`
}

// maxProjects bounds one connection: each project is a stream and a
// dynamic webhook.
const maxProjects = 50

var (
	// projectKeyRE: Jira project keys start with a letter and hold
	// uppercase letters, digits and underscores.
	projectKeyRE = regexp.MustCompile(`^[A-Z][A-Z0-9_]{0,254}$`)
	cloudIDRE    = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
)

// ValidateConfig checks {"site": "…", "projects": ["ABC"], "backfill_days":
// 90}: at least one project key (uppercased, deduplicated in order), an
// optional site as a cloud id or an http(s) site URL (normalized to scheme
// and lowercase host), an optional backfill window of 1 to 3650 days.
// Unknown fields are rejected. Errors are *connectors.ConfigError with a
// message per field.
func (c *Connector) ValidateConfig(raw json.RawMessage) (json.RawMessage, error) {
	fields := map[string]json.RawMessage{}
	if len(raw) == 0 || json.Unmarshal(raw, &fields) != nil {
		return nil, &connectors.ConfigError{Fields: map[string]string{"config": `must be a JSON object like {"projects": ["ABC"]}`}}
	}
	problems := map[string]string{}
	for k := range fields {
		if k != "site" && k != "projects" && k != "backfill_days" {
			problems[k] = "unknown field"
		}
	}
	var out Config
	if s, ok := fields["site"]; ok {
		var site string
		if err := json.Unmarshal(s, &site); err != nil {
			problems["site"] = "must be a string: a site URL like https://acme.atlassian.net, or a cloud id"
		} else if out.Site, err = normalizeSite(site); err != nil {
			problems["site"] = err.Error()
		}
	}
	var keys []string
	if r, ok := fields["projects"]; !ok {
		problems["projects"] = "at least one project key is required"
	} else if err := json.Unmarshal(r, &keys); err != nil {
		problems["projects"] = "must be an array of project keys"
	} else if len(keys) == 0 {
		problems["projects"] = "at least one project key is required"
	} else if len(keys) > maxProjects {
		problems["projects"] = fmt.Sprintf("at most %d projects per connection", maxProjects)
	}
	for i, k := range keys {
		norm := strings.ToUpper(strings.TrimSpace(k))
		if !projectKeyRE.MatchString(norm) {
			problems[fmt.Sprintf("projects[%d]", i)] = fmt.Sprintf("%q is not a project key (letters, digits and '_', starting with a letter)", k)
			continue
		}
		if !slices.Contains(out.Projects, norm) {
			out.Projects = append(out.Projects, norm)
		}
	}
	if b, ok := fields["backfill_days"]; ok {
		if err := json.Unmarshal(b, &out.BackfillDays); err != nil || out.BackfillDays < 1 || out.BackfillDays > 3650 {
			problems["backfill_days"] = "must be an integer from 1 to 3650"
		}
	}
	if len(problems) > 0 {
		return nil, &connectors.ConfigError{Fields: problems}
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("jira: encode config: %w", err)
	}
	return b, nil
}

// normalizeSite turns a cloud id or a site URL ("acme.atlassian.net",
// "https://ACME.atlassian.net/jira/") into its canonical form.
func normalizeSite(s string) (string, error) {
	v := strings.TrimSpace(s)
	if cloudIDRE.MatchString(strings.ToLower(v)) {
		return strings.ToLower(v), nil
	}
	if !strings.Contains(v, "://") {
		v = "https://" + v
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Hostname() == "" || u.User != nil {
		return "", fmt.Errorf("%q is neither a site URL like https://acme.atlassian.net nor a cloud id", s)
	}
	return strings.ToLower(u.Scheme + "://" + u.Host), nil
}

// parseConfig reads a validated config.
func parseConfig(conn connectors.Connection) (Config, error) {
	var cfg Config
	if err := json.Unmarshal(conn.Config, &cfg); err != nil {
		return cfg, fmt.Errorf("jira: connection config: %w: %v", connectors.ErrInvalidConfig, err)
	}
	if len(cfg.Projects) == 0 {
		return cfg, fmt.Errorf("jira: connection config: %w: no projects", connectors.ErrInvalidConfig)
	}
	if cfg.BackfillDays <= 0 {
		cfg.BackfillDays = DefaultBackfillDays
	}
	return cfg, nil
}

// siteOf reads the site a connection is bound to from its account: the
// cloud id, the site URL and the URL's host (what webhook bodies name).
func siteOf(conn connectors.Connection) (cloudID, siteURL, host string, err error) {
	cloudID = conn.Account.ID
	siteURL = strings.TrimRight(conn.Account.Metadata["url"], "/")
	if cloudID == "" || siteURL == "" {
		return "", "", "", fmt.Errorf("jira: connection has no site (account id or url missing): %w", connectors.ErrInvalidConfig)
	}
	u, perr := url.Parse(siteURL)
	if perr != nil || u.Host == "" {
		return "", "", "", fmt.Errorf("jira: connection site URL %q: %w", siteURL, connectors.ErrInvalidConfig)
	}
	return cloudID, siteURL, strings.ToLower(u.Host), nil
}
