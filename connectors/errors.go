package connectors

import (
	"errors"
	"fmt"
	"time"
)

// Provider-neutral errors. Every provider maps its failures onto these (wrap
// them with context: fmt.Errorf("github: list pulls: %w", ErrNotFound)); the
// engine decides retries and connection health from them alone.
var (
	// ErrUnauthorized: the token is missing, expired or revoked (HTTP 401,
	// OAuth invalid_grant). The engine refreshes once, then asks for re-auth.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrForbidden: the token is valid but lacks a scope or permission.
	ErrForbidden = errors.New("forbidden")
	// ErrNotFound: the resource (repo, channel, calendar) does not exist or is hidden.
	ErrNotFound = errors.New("not found")
	// ErrTransient: a failure worth retrying with backoff (5xx, timeouts, resets).
	ErrTransient = errors.New("transient provider failure")
	// ErrCursorExpired: the stored cursor is no longer valid at the provider
	// (Calendar 410 GONE, Gmail 404 history); the engine clears it and resyncs.
	ErrCursorExpired = errors.New("cursor expired")
	// ErrInvalidConfig: the connection's configuration cannot work as given.
	ErrInvalidConfig = errors.New("invalid configuration")
	// ErrRateLimited matches every *RateLimited with errors.Is.
	ErrRateLimited = errors.New("rate limited")
)

// RateLimited says the provider asked us to slow down. RetryAfter is the
// provider's requested wait (0 when it gave none; the engine then backs off).
type RateLimited struct {
	RetryAfter time.Duration
	// Reason is a short provider-specific reason, e.g. "secondary rate limit".
	Reason string
	// Floor marks a RetryAfter that is only the least wait the provider
	// documents for a limit its answer did not date (GitHub's secondary
	// rate limit without retry-after or x-ratelimit-remaining 0: "wait for
	// at least one minute", then "an exponentially increasing amount of
	// time" while it goes on). A refusal that repeats waits longer each
	// time, up to FloorBackoffCap: the engine backs off from the floor by
	// its attempts, and the account's Budget holds the account longer for
	// each refusal in a row. Without Floor, RetryAfter is the provider's
	// date and is waited as it is.
	Floor bool
}

// FloorBackoffCap is the longest a floor (RateLimited.Floor) grows to
// while the refusals go on.
const FloorBackoffCap = 30 * time.Minute

// IsFloor reports whether err is a rate limit whose delay is only the
// provider's floor (RateLimited.Floor).
func IsFloor(err error) bool {
	var rl *RateLimited
	return errors.As(err, &rl) && rl.Floor
}

func (e *RateLimited) Error() string {
	if e.Reason != "" {
		return fmt.Sprintf("rate limited (%s), retry after %s", e.Reason, e.RetryAfter)
	}
	return fmt.Sprintf("rate limited, retry after %s", e.RetryAfter)
}

// Is makes errors.Is(err, ErrRateLimited) true for every *RateLimited.
func (e *RateLimited) Is(target error) bool { return target == ErrRateLimited }

// ConfigError is an ErrInvalidConfig with field-level details for API clients.
type ConfigError struct {
	Fields map[string]string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("invalid configuration: %v", e.Fields)
}

// Is makes errors.Is(err, ErrInvalidConfig) true for every *ConfigError.
func (e *ConfigError) Is(target error) bool { return target == ErrInvalidConfig }

// Kind classifies err as one of the neutral errors. It returns nil for nil,
// and ErrTransient for anything unknown (unknown failures are retried).
func Kind(err error) error {
	if err == nil {
		return nil
	}
	for _, k := range []error{ErrRateLimited, ErrUnauthorized, ErrForbidden, ErrNotFound, ErrCursorExpired, ErrInvalidConfig, ErrTransient} {
		if errors.Is(err, k) {
			return k
		}
	}
	return ErrTransient
}

// RetryAfter returns the provider's requested wait if err is rate limited.
func RetryAfter(err error) (time.Duration, bool) {
	var rl *RateLimited
	if errors.As(err, &rl) {
		return rl.RetryAfter, true
	}
	return 0, false
}
