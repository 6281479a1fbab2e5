package googlecalendar

import (
	"fmt"
	"net/http"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/connectors/google"
)

// ClassifyResponse maps Calendar API responses to neutral errors: 410 GONE
// (sync token expired) is ErrCursorExpired; everything else is Google's
// common classification (google.Classify: 403 usageLimits reasons and 429
// are rate limits, 403 otherwise forbidden, 5xx transient...). The body is
// read to find the reason and restored for the caller.
func (c *Connector) ClassifyResponse(resp *http.Response) error {
	if resp.StatusCode == http.StatusGone {
		return fmt.Errorf("%w: HTTP 410 %v, a full sync is required", connectors.ErrCursorExpired, google.Reasons(resp))
	}
	return google.Classify(resp)
}

// apiError prepares an error of the Calendar client for wrapping
// (google.APIError with this connector's classification).
func (c *Connector) apiError(err error) error { return google.APIError(err, c.ClassifyResponse) }
