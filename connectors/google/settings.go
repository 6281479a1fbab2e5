package google

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/poblysh/poblysh/connectors"
)

// ParseTTL reads seconds ("604800") or a Go duration ("168h"), at least a minute.
func ParseTTL(v string) (time.Duration, error) {
	var d time.Duration
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		d = time.Duration(secs) * time.Second
	} else if d, err = time.ParseDuration(v); err != nil {
		return 0, fmt.Errorf("must be seconds or a duration like 168h")
	}
	if d < time.Minute {
		return 0, fmt.Errorf("must be at least one minute")
	}
	return d, nil
}

// IntSetting reads POBLYSH_<NAME>_<suffix> (or POBLYSH_GOOGLE_<suffix>) as
// an integer from lo to hi; def when unset. Its error names the variable
// set (Config.SettingVar).
func IntSetting(cfg connectors.Config, suffix string, def, lo, hi int) (int, error) {
	v := strings.TrimSpace(cfg.Setting(suffix))
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%w: %s must be an integer from %d to %d", connectors.ErrInvalidConfig, cfg.SettingVar(suffix), lo, hi)
	}
	return n, nil
}

// TTLSetting reads POBLYSH_<NAME>_<suffix> (or POBLYSH_GOOGLE_<suffix>)
// with ParseTTL; def when unset. Its error names the variable set.
func TTLSetting(cfg connectors.Config, suffix string, def time.Duration) (time.Duration, error) {
	v := strings.TrimSpace(cfg.Setting(suffix))
	if v == "" {
		return def, nil
	}
	d, err := ParseTTL(v)
	if err != nil {
		return 0, fmt.Errorf("%w: %s: %v", connectors.ErrInvalidConfig, cfg.SettingVar(suffix), err)
	}
	return d, nil
}

// URLSetting reads POBLYSH_<NAME>_<suffix> (or POBLYSH_GOOGLE_<suffix>) as
// an absolute http(s) URL (a userinfo endpoint, a key set); def when
// unset. A malformed one is refused at start, as LoadConfig refuses the
// endpoints: it failed only at the call that used it. Its error names the
// variable set, not the value (checked as LoadConfig's are).
func URLSetting(cfg connectors.Config, suffix, def string) (string, error) {
	v := strings.TrimSpace(cfg.Setting(suffix))
	if v == "" {
		return def, nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("%w: %s must be an absolute http(s) URL", connectors.ErrInvalidConfig, cfg.SettingVar(suffix))
	}
	return v, nil
}
