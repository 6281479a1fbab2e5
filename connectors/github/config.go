package github

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/poblysh/poblysh/connectors"
)

// Config is a connection's provider config.
type Config struct {
	// Repos are the repositories to follow, "owner/name", lowercase.
	Repos []string `json:"repos"`
}

// maxRepos bounds one connection: each repository is three streams and a hook.
const maxRepos = 100

var (
	ownerRE = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9_-]{0,38})$`)
	nameRE  = regexp.MustCompile(`^[a-z0-9._-]{1,100}$`)
)

// ValidateConfig checks {"repos": ["owner/name", ...]}: at least one
// repository, each owner/name (a https://github.com/owner/name URL or a
// trailing .git is accepted), lowercased and deduplicated in order. Unknown
// fields are rejected. Errors are *connectors.ConfigError with a message per
// field ("repos", "repos[2]", or the unknown field's name).
func (c *Connector) ValidateConfig(raw json.RawMessage) (json.RawMessage, error) {
	fields := map[string]json.RawMessage{}
	if len(raw) == 0 || json.Unmarshal(raw, &fields) != nil {
		return nil, &connectors.ConfigError{Fields: map[string]string{"config": `must be a JSON object like {"repos": ["owner/name"]}`}}
	}
	problems := map[string]string{}
	for k := range fields {
		if k != "repos" {
			problems[k] = "unknown field"
		}
	}
	var repos []string
	if r, ok := fields["repos"]; !ok {
		problems["repos"] = "at least one repository is required"
	} else if err := json.Unmarshal(r, &repos); err != nil {
		problems["repos"] = "must be an array of strings"
	} else if len(repos) == 0 {
		problems["repos"] = "at least one repository is required"
	} else if len(repos) > maxRepos {
		problems["repos"] = fmt.Sprintf("at most %d repositories per connection", maxRepos)
	}
	var out Config
	for i, r := range repos {
		norm, err := normalizeRepo(r)
		if err != nil {
			problems[fmt.Sprintf("repos[%d]", i)] = err.Error()
			continue
		}
		if !slices.Contains(out.Repos, norm) {
			out.Repos = append(out.Repos, norm)
		}
	}
	if len(problems) > 0 {
		return nil, &connectors.ConfigError{Fields: problems}
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("github: encode config: %w", err)
	}
	return b, nil
}

// normalizeRepo turns " Octo-Org/Hello-World.git " or a github.com URL into
// "octo-org/hello-world".
func normalizeRepo(s string) (string, error) {
	v := strings.ToLower(strings.TrimSpace(s))
	for _, prefix := range []string{"https://github.com/", "http://github.com/", "github.com/"} {
		v = strings.TrimPrefix(v, prefix)
	}
	v = strings.TrimSuffix(strings.TrimSuffix(v, "/"), ".git")
	owner, name, ok := strings.Cut(v, "/")
	switch {
	case !ok || strings.Contains(name, "/"):
		return "", fmt.Errorf("%q must be owner/name", s)
	case !ownerRE.MatchString(owner):
		return "", fmt.Errorf("%q: owner must be a GitHub account name", s)
	case !nameRE.MatchString(name) || name == "." || name == "..":
		return "", fmt.Errorf("%q: name may hold letters, digits, '.', '-' and '_'", s)
	}
	return owner + "/" + name, nil
}

// parseConfig reads a validated config.
func parseConfig(conn connectors.Connection) (Config, error) {
	var cfg Config
	if err := json.Unmarshal(conn.Config, &cfg); err != nil {
		return cfg, fmt.Errorf("github: connection config: %w: %v", connectors.ErrInvalidConfig, err)
	}
	if len(cfg.Repos) == 0 {
		return cfg, fmt.Errorf("github: connection config: %w: no repositories", connectors.ErrInvalidConfig)
	}
	return cfg, nil
}

// Stream kinds; a stream name is "<kind>:<owner>/<name>".
const (
	streamPulls    = "pulls"
	streamReleases = "releases"
	streamCommits  = "commits"
)

// Streams lists pulls:, releases: and commits: for every configured repository.
func (c *Connector) Streams(conn connectors.Connection) ([]string, error) {
	cfg, err := parseConfig(conn)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, 3*len(cfg.Repos))
	for _, r := range cfg.Repos {
		out = append(out, streamPulls+":"+r, streamReleases+":"+r, streamCommits+":"+r)
	}
	return out, nil
}

// parseStream splits "pulls:owner/name".
func parseStream(stream string) (kind, owner, name string, err error) {
	kind, full, _ := strings.Cut(stream, ":")
	owner, name, ok := strings.Cut(full, "/")
	if !ok || owner == "" || name == "" || (kind != streamPulls && kind != streamReleases && kind != streamCommits) {
		return "", "", "", fmt.Errorf("github: stream %q: %w: want pulls:, releases: or commits:<owner>/<name>", stream, connectors.ErrInvalidConfig)
	}
	return kind, owner, name, nil
}

// Route keys. A repository hook's deliveries route by the hook ("hook:<id>",
// to the connection that created the hook and holds its secret); app-level
// deliveries (GitHub App) route by the repository's numeric id
// ("repo:<id>"), which survives renames and transfers, to the connections
// whose token has read that repository; the events that may end such a
// proof also route by the user they name ("user:<id>"), which each
// connection routes for its own account (RouteKeys). A name typed into a
// config is never a route.
func hookRouteKey(id string) string              { return "hook:" + id }
func repoRouteKey(id int64) string               { return "repo:" + strconv.FormatInt(id, 10) }
func userRouteKey(id string) string              { return "user:" + id }
func cutRepo(full string) (string, string, bool) { return strings.Cut(full, "/") }
