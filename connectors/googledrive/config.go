package googledrive

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/poblysh/poblysh/connectors"
)

// Limits of a connection's config.
const (
	maxFolders      = 50
	maxDrives       = 50
	maxBackfillDays = 365
)

// RootFolder is Drive's alias for the user's My Drive folder.
const RootFolder = "root"

// MyDriveRef names the resource the user's change feed reads: the feed of
// everything the connected account can see outside shared drives. It is
// proved with changes.getStartPageToken and watched with changes.watch.
const MyDriveRef = "my-drive"

// Stream names: "changes" reads the user's change feed (tracked folders);
// "drive:<driveId>" reads a shared drive's own feed.
const (
	streamChanges = "changes"
	streamDrive   = "drive:"
)

// Config is a connection's provider config.
type Config struct {
	// Folders are tracked with their subfolders to any depth ("root" is My
	// Drive), from the user's change feed: none may lie on a shared drive
	// the user is a member of (ProveAccess refuses them).
	Folders []string `json:"folders"`
	// SharedDrives are tracked whole.
	SharedDrives []string `json:"shared_drives"`
	// BackfillDays bounds the first backfill (0: the provider default).
	BackfillDays int `json:"backfill_days,omitempty"`
}

// driveID is the shape of Drive file and shared drive ids.
var driveID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,200}$`)

// ValidateConfig checks and normalizes the config: ids are trimmed and
// deduplicated; no folders and no shared drives means ["root"]; unknown
// fields are rejected so that typos do not silently sync the wrong thing.
func (c *Connector) ValidateConfig(raw json.RawMessage) (json.RawMessage, error) {
	cfg, err := parseConfig(raw)
	if err != nil {
		return nil, err
	}
	out, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("google-drive: encode config: %w", err)
	}
	return out, nil
}

func parseConfig(raw json.RawMessage) (Config, error) {
	var cfg Config
	if err := connectors.DecodeConfig(raw, &cfg, `{"folders": ["<folderId>", ...], "shared_drives": ["<driveId>", ...]}`); err != nil {
		return Config{}, err
	}
	var err error
	if cfg.Folders, err = ids("folders", cfg.Folders, maxFolders); err != nil {
		return Config{}, err
	}
	if cfg.SharedDrives, err = ids("shared_drives", cfg.SharedDrives, maxDrives); err != nil {
		return Config{}, err
	}
	for _, id := range cfg.SharedDrives {
		if id == RootFolder {
			return Config{}, &connectors.ConfigError{Fields: map[string]string{"shared_drives": `"root" is My Drive, not a shared drive: put it in folders`}}
		}
	}
	if len(cfg.Folders) == 0 && len(cfg.SharedDrives) == 0 {
		cfg.Folders = []string{RootFolder}
	}
	if cfg.Folders == nil {
		cfg.Folders = []string{}
	}
	if cfg.SharedDrives == nil {
		cfg.SharedDrives = []string{}
	}
	if err := connectors.CheckBackfillDays(raw, cfg.BackfillDays, maxBackfillDays); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// ids trims, checks and deduplicates a list of Drive ids.
func ids(field string, in []string, limit int) ([]string, error) {
	if len(in) > limit {
		return nil, &connectors.ConfigError{Fields: map[string]string{field: fmt.Sprintf("at most %d", limit)}}
	}
	seen := map[string]bool{}
	var out []string
	for i, id := range in {
		id = strings.TrimSpace(id)
		if !driveID.MatchString(id) {
			return nil, &connectors.ConfigError{Fields: map[string]string{
				fmt.Sprintf("%s[%d]", field, i): "must be a Drive id (letters, digits, - and _), as in the folder's URL",
			}}
		}
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out, nil
}

// config returns a connection's validated config.
func config(conn connectors.Connection) (Config, error) {
	cfg, err := parseConfig(conn.Config)
	if err != nil {
		return Config{}, fmt.Errorf("google-drive: connection config: %w", err)
	}
	return cfg, nil
}

// Streams lists "changes" when folders are tracked and "drive:<id>" per
// shared drive.
func (c *Connector) Streams(conn connectors.Connection) ([]string, error) {
	cfg, err := config(conn)
	if err != nil {
		return nil, err
	}
	var out []string
	if len(cfg.Folders) > 0 {
		out = append(out, streamChanges)
	}
	for _, id := range cfg.SharedDrives {
		out = append(out, streamDrive+id)
	}
	return out, nil
}

// feed is what one stream reads: the user's change feed (drive "") with the
// tracked folders as roots, or a shared drive's feed.
type feed struct {
	stream string
	drive  string
	roots  []string
}

// feedOf returns the feed a stream of conn reads.
func feedOf(conn connectors.Connection, stream string) (feed, error) {
	cfg, err := config(conn)
	if err != nil {
		return feed{}, err
	}
	if stream == streamChanges && len(cfg.Folders) > 0 {
		return feed{stream: stream, roots: cfg.Folders}, nil
	}
	if id, ok := strings.CutPrefix(stream, streamDrive); ok {
		for _, d := range cfg.SharedDrives {
			if d == id {
				return feed{stream: stream, drive: id, roots: []string{id}}, nil
			}
		}
	}
	return feed{}, fmt.Errorf("google-drive: %w: unknown stream %q", connectors.ErrInvalidConfig, stream)
}

// backfillWindow is the connection's backfill window.
func (c *Connector) backfillWindow(conn connectors.Connection) int {
	if cfg, err := config(conn); err == nil && cfg.BackfillDays > 0 {
		return cfg.BackfillDays
	}
	return c.backfillDays
}
