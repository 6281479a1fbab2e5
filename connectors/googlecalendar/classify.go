package googlecalendar

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"google.golang.org/api/googleapi"

	"github.com/poblysh/poblysh/connectors"
)

// maxErrorBody bounds how much of an error response is read to find its reason.
const maxErrorBody = 64 << 10

// googleError is the JSON error body of Google APIs:
// {"error": {"code", "message", "errors": [{"domain", "reason", "message"}], "status"}}.
type googleError struct {
	Error struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Status  string `json:"status"`
		Errors  []struct {
			Domain  string `json:"domain"`
			Reason  string `json:"reason"`
			Message string `json:"message"`
		} `json:"errors"`
	} `json:"error"`
}

// reasons returns the error reasons of a Google error body (none when it is
// not one).
func (g googleError) reasons() []string {
	var out []string
	for _, e := range g.Error.Errors {
		if e.Reason != "" {
			out = append(out, e.Reason)
		}
	}
	return out
}

// rateLimitReasons are the 403 reasons Google uses for "slow down"
// (domain usageLimits). quotaExceeded (daily quota) is included: backing off
// is the only thing that helps there too.
var rateLimitReasons = map[string]bool{
	"rateLimitExceeded":     true,
	"userRateLimitExceeded": true,
	"quotaExceeded":         true,
}

// ClassifyResponse maps Calendar API responses to neutral errors: 410 GONE
// (sync token expired) is ErrCursorExpired; 403 with a usageLimits reason is
// a rate limit (Google sends no Retry-After, so RetryAfter is 0 and the
// engine backs off); other statuses use connectors.ClassifyResponse (403
// forbidden, 429 rate limited, 5xx transient...). The body is read to find
// the reason and restored for the caller.
func (c *Connector) ClassifyResponse(resp *http.Response) error {
	if resp.StatusCode < 400 {
		return nil
	}
	g := peekGoogleError(resp)
	reasons := g.reasons()
	switch resp.StatusCode {
	case http.StatusGone:
		return fmt.Errorf("%w: HTTP 410 %v, a full sync is required", connectors.ErrCursorExpired, reasons)
	case http.StatusForbidden:
		for _, r := range reasons {
			if rateLimitReasons[r] {
				d, _ := connectors.RateLimitDelay(resp.Header, time.Now())
				return &connectors.RateLimited{RetryAfter: d, Reason: "HTTP 403 " + r}
			}
		}
		if err := connectors.ClassifyResponse(resp); err != connectors.ErrForbidden {
			return err // rate-limit headers on a 403
		}
		return fmt.Errorf("%w: HTTP 403 %v", connectors.ErrForbidden, reasons)
	}
	return connectors.ClassifyResponse(resp)
}

// peekGoogleError reads the start of the body, decodes it as a Google error
// if it is one, and puts the bytes back in front of the rest of the body.
func peekGoogleError(resp *http.Response) googleError {
	var g googleError
	if resp.Body == nil {
		return g
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	resp.Body = readCloser{io.MultiReader(bytes.NewReader(b), resp.Body), resp.Body}
	if err != nil {
		return g
	}
	_ = json.Unmarshal(b, &g)
	return g
}

type readCloser struct {
	io.Reader
	io.Closer
}

// apiError prepares an error of the Calendar client for wrapping: it drops
// the *url.Error layer (whose message repeats the request URL), and maps a
// *googleapi.Error, which only appears when the client given was not the
// engine's classifying one, to the neutral errors.
func (c *Connector) apiError(err error) error {
	err = unwrapURLError(err)
	var ge *googleapi.Error
	if errors.As(err, &ge) && ge.Code >= 400 {
		resp := &http.Response{StatusCode: ge.Code, Header: ge.Header, Body: io.NopCloser(strings.NewReader(ge.Body))}
		if resp.Header == nil {
			resp.Header = http.Header{}
		}
		if cerr := c.ClassifyResponse(resp); cerr != nil {
			return fmt.Errorf("HTTP %d: %w", ge.Code, cerr)
		}
	}
	return err
}
