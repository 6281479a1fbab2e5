package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"time"

	slackapi "github.com/slack-go/slack"

	"github.com/poblysh/poblysh/connectors"
)

// errorKinds maps Slack error codes (the "error" of an ok:false answer) to
// neutral errors. Codes not listed are ErrInvalidConfig: Slack uses ok:false
// for requests it will keep refusing (at a token refresh that degrades the
// connection and keeps its grant; only ErrUnauthorized asks for a
// reconnect).
var errorKinds = map[string]error{
	// The token is gone: reconnect.
	"invalid_auth":          connectors.ErrUnauthorized,
	"not_authed":            connectors.ErrUnauthorized,
	"token_revoked":         connectors.ErrUnauthorized,
	"token_expired":         connectors.ErrUnauthorized,
	"account_inactive":      connectors.ErrUnauthorized,
	"invalid_code":          connectors.ErrUnauthorized,
	"code_already_used":     connectors.ErrUnauthorized,
	"invalid_refresh_token": connectors.ErrUnauthorized,
	"invalid_grant":         connectors.ErrUnauthorized,
	// Valid token, missing permission.
	"missing_scope":           connectors.ErrForbidden,
	"not_in_channel":          connectors.ErrForbidden,
	"not_allowed_token_type":  connectors.ErrForbidden,
	"no_permission":           connectors.ErrForbidden,
	"access_denied":           connectors.ErrForbidden,
	"ekm_access_denied":       connectors.ErrForbidden,
	"team_access_not_granted": connectors.ErrForbidden,
	// Gone or never existed.
	"channel_not_found": connectors.ErrNotFound,
	"thread_not_found":  connectors.ErrNotFound,
	"user_not_found":    connectors.ErrNotFound,
	"is_archived":       connectors.ErrNotFound,
	// Slack-side trouble worth retrying.
	"internal_error":      connectors.ErrTransient,
	"fatal_error":         connectors.ErrTransient,
	"service_unavailable": connectors.ErrTransient,
	"request_timeout":     connectors.ErrTransient,
	// The workspace is moving into an Enterprise Grid org: Slack says it is
	// unavailable until the transition is complete. A wait, not a dead
	// grant (nor a refused client).
	"team_added_to_org":  connectors.ErrTransient,
	"org_login_required": connectors.ErrTransient,
	// A stored pagination cursor Slack no longer accepts.
	"invalid_cursor": connectors.ErrCursorExpired,
	// OAuth client misconfiguration.
	"bad_client_secret":  connectors.ErrInvalidConfig,
	"invalid_client_id":  connectors.ErrInvalidConfig,
	"invalid_grant_type": connectors.ErrInvalidConfig,
	"bad_redirect_uri":   connectors.ErrInvalidConfig,
}

// apiError turns a Slack error code into a neutral error carrying the code.
// h (may be nil) supplies Retry-After for ratelimited answers.
func apiError(code string, h http.Header) error {
	if code == "ratelimited" || code == "rate_limited" {
		var d time.Duration
		if h != nil {
			d, _ = connectors.RateLimitDelay(h, time.Now())
		}
		return &connectors.RateLimited{RetryAfter: d, Reason: "slack " + code}
	}
	kind, ok := errorKinds[code]
	if !ok {
		kind = connectors.ErrInvalidConfig
	}
	return &codeError{Code: code, Kind: kind}
}

// codeError is an ok:false answer: Slack's error code and the neutral
// error it maps to (errors.Is sees the latter).
type codeError struct {
	Code string
	Kind error
}

func (e *codeError) Error() string { return fmt.Sprintf("%v: slack error %q", e.Kind, e.Code) }

// Unwrap exposes the neutral error.
func (e *codeError) Unwrap() error { return e.Kind }

// slackCode returns the Slack error code err carries, or "".
func slackCode(err error) string {
	var ce *codeError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return ""
}

// ClassifyResponse implements connectors.Classifier. Slack answers most
// errors with HTTP 200 and {"ok": false, "error": "<code>"}: the body is
// peeked (and restored) to find them. Other statuses use the shared
// mapping (429 with Retry-After is a rate limit, 5xx transient).
func (c *Connector) ClassifyResponse(resp *http.Response) error { return classifyResponse(resp) }

func classifyResponse(resp *http.Response) error {
	if resp.StatusCode != http.StatusOK {
		return connectors.ClassifyResponse(resp)
	}
	if code := peekErrorCode(resp); code != "" {
		return apiError(code, resp.Header)
	}
	return nil
}

// peekLimit bounds how much of a 200 answer is read to look for ok:false.
// Error answers are tiny; a body larger than this is data, not an error.
const peekLimit = 64 << 10

// peekErrorCode returns the error code of an ok:false JSON answer and
// leaves resp.Body readable from the start.
func peekErrorCode(resp *http.Response) string {
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mt != "application/json" || resp.Body == nil {
		return ""
	}
	buf, err := io.ReadAll(io.LimitReader(resp.Body, peekLimit+1))
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(buf), resp.Body), resp.Body}
	if err != nil || len(buf) > peekLimit {
		return ""
	}
	var v struct {
		OK    *bool  `json:"ok"`
		Error string `json:"error"`
	}
	if json.Unmarshal(buf, &v) != nil || v.OK == nil || *v.OK {
		return ""
	}
	if v.Error == "" {
		return "unknown_error"
	}
	return v.Error
}

// neutral reports whether err already is one of the neutral errors.
func neutral(err error) bool {
	for _, k := range []error{connectors.ErrRateLimited, connectors.ErrUnauthorized, connectors.ErrForbidden,
		connectors.ErrNotFound, connectors.ErrCursorExpired, connectors.ErrInvalidConfig, connectors.ErrTransient} {
		if errors.Is(err, k) {
			return true
		}
	}
	return false
}

// mapError maps what slack-go (or a plain HTTP call) returned to a neutral
// error, prefixed with what was being done. Errors the engine's transport
// already classified pass through.
func mapError(op string, err error) error {
	if err == nil {
		return nil
	}
	if neutral(err) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("slack: %s: %w", op, err)
	}
	var se slackapi.SlackErrorResponse
	if errors.As(err, &se) {
		return fmt.Errorf("slack: %s: %w", op, apiError(se.Err, nil))
	}
	var rl *slackapi.RateLimitedError
	if errors.As(err, &rl) {
		return fmt.Errorf("slack: %s: %w", op, &connectors.RateLimited{RetryAfter: rl.RetryAfter, Reason: "slack HTTP 429"})
	}
	var sc slackapi.StatusCodeError
	if errors.As(err, &sc) {
		if kind := connectors.ClassifyResponse(&http.Response{StatusCode: sc.Code, Header: http.Header{}}); kind != nil {
			return fmt.Errorf("slack: %s: %w", op, kind)
		}
	}
	return fmt.Errorf("slack: %s: %w: %v", op, connectors.ErrTransient, err)
}
