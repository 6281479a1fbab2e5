package google

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"google.golang.org/api/googleapi"

	"github.com/poblysh/poblysh/connectors"
)

// maxErrorBody bounds how much of an error response is read to find its reason.
const maxErrorBody = 64 << 10

// apiError is the JSON error body of Google APIs:
// {"error": {"code", "message", "errors": [{"domain", "reason", "message"}], "status"}}.
type apiError struct {
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
func (g apiError) reasons() []string {
	var out []string
	for _, e := range g.Error.Errors {
		if e.Reason != "" {
			out = append(out, e.Reason)
		}
	}
	return out
}

// rateLimitReasons are the 403 reasons Google uses for "slow down"
// (domain usageLimits). quotaExceeded and dailyLimitExceeded (the project's
// daily quota; "Resolve a 403 error: Daily limit exceeded" in the Drive,
// Calendar and Gmail error guides) are included: backing off is the only
// thing that helps there too, and taken as forbidden they read as access
// lost (Drive stopped tracking a folder over it).
var rateLimitReasons = map[string]bool{
	"rateLimitExceeded":     true,
	"userRateLimitExceeded": true,
	"quotaExceeded":         true,
	"dailyLimitExceeded":    true,
}

// ReasonWebhookURLUnauthorized is the reason of the 401 events.watch and
// changes.watch answer ("Unauthorized WebHook callback channel") when the
// callback URL's domain is not verified for the project: the grant is
// fine, the project may not send notifications there.
const ReasonWebhookURLUnauthorized = "push.webhookUrlUnauthorized"

// Reasons reads the error reasons of a Google error response and puts the
// bytes it read back in front of the body, for the caller.
func Reasons(resp *http.Response) []string {
	var g apiError
	if resp.Body == nil {
		return nil
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	resp.Body = readCloser{io.MultiReader(bytes.NewReader(b), resp.Body), resp.Body}
	if err != nil {
		return nil
	}
	_ = json.Unmarshal(b, &g)
	return g.reasons()
}

type readCloser struct {
	io.Reader
	io.Closer
}

// Classify maps a Google API response to neutral errors: 403 with a
// usageLimits reason (rateLimitExceeded, userRateLimitExceeded,
// quotaExceeded) is a rate limit (Google sends no Retry-After, so RetryAfter
// is 0 and the engine backs off); 401 with the reason
// push.webhookUrlUnauthorized is ErrInvalidConfig naming the domain
// verification the callback URL lacks (a refusal of the service's setup,
// not of the token: as ErrUnauthorized it sent a working grant to
// re-authorization and paused its schedules); other statuses use
// connectors.ClassifyResponse (403 forbidden, 429 rate limited, 5xx
// transient...). The body is read to find the reason and restored for the
// caller. Connectors handle their own special statuses first (Calendar 410,
// Gmail's history 404) and fall back to Classify.
func Classify(resp *http.Response) error {
	if resp.StatusCode == http.StatusUnauthorized && slices.Contains(Reasons(resp), ReasonWebhookURLUnauthorized) {
		return fmt.Errorf("%w: HTTP 401 %s: Google refuses to notify the callback URL: verify its domain for the "+
			"project (Google Search Console, then APIs & Services → Domain verification)", connectors.ErrInvalidConfig, ReasonWebhookURLUnauthorized)
	}
	if resp.StatusCode != http.StatusForbidden {
		return connectors.ClassifyResponse(resp)
	}
	reasons := Reasons(resp)
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

// APIError prepares an error of a Google API client for wrapping: it drops
// the *url.Error layer (whose message repeats the request URL), and maps a
// *googleapi.Error, which only appears when the client given was not the
// engine's classifying one, to the neutral errors with classify.
func APIError(err error, classify func(*http.Response) error) error {
	err = UnwrapURLError(err)
	var ge *googleapi.Error
	if errors.As(err, &ge) && ge.Code >= 400 {
		resp := &http.Response{StatusCode: ge.Code, Header: ge.Header, Body: io.NopCloser(strings.NewReader(ge.Body))}
		if resp.Header == nil {
			resp.Header = http.Header{}
		}
		if cerr := classify(resp); cerr != nil {
			return fmt.Errorf("HTTP %d: %w", ge.Code, cerr)
		}
	}
	return err
}

// CheckResponse classifies a response read with a plain client (the raw
// calls of these connectors: channels.stop, Gmail's users.stop): the
// engine's client already turned errors into Go errors, any other client
// hands back the status.
func CheckResponse(resp *http.Response, classify func(*http.Response) error) error {
	if resp.StatusCode < 400 {
		return nil
	}
	return classify(resp)
}

// maxCallBody bounds one API response read by Call.
const maxCallBody = 64 << 20

// Call sends one JSON request to a Google API (url complete with its query)
// and decodes the answer into out (nil: ignored). Errors are the neutral
// ones: the engine's client already classified the response; any other
// client's error statuses go through classify.
func Call(ctx context.Context, hc *http.Client, method, url string, body, out any, classify func(*http.Response) error) error {
	if hc == nil {
		return fmt.Errorf("no HTTP client")
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := hc.Do(req)
	if err != nil {
		return APIError(err, classify)
	}
	defer resp.Body.Close()
	if err := CheckResponse(resp, classify); err != nil {
		return fmt.Errorf("%s %s: %w", method, req.URL.Path, err)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxCallBody+1))
	if err != nil || len(data) > maxCallBody {
		return fmt.Errorf("%s %s: %w: unreadable response body", method, req.URL.Path, connectors.ErrTransient)
	}
	if out == nil || len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: %w: response is not the expected JSON", method, req.URL.Path, connectors.ErrTransient)
	}
	return nil
}
