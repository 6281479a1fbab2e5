package googlecalendar

import (
	"fmt"
	"net/http"
	"slices"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/connectors/google"
)

// reasonPushNotSupported is the reason of events.watch's 400 on a calendar
// Google cannot watch ("Push notifications are not supported by this
// resource."): the calendars it generates, holidays
// (en.usa#holiday@group.v.calendar.google.com) and birthdays.
const reasonPushNotSupported = "pushNotSupportedForRequestedResource"

// errPushNotSupported is that 400: the calendar is read by polling. It is
// an ErrInvalidConfig for any other caller.
var errPushNotSupported = fmt.Errorf("%w: HTTP 400 %s: Google cannot watch this calendar", connectors.ErrInvalidConfig, reasonPushNotSupported)

// ClassifyResponse maps Calendar API responses to neutral errors: 410 GONE
// (sync token expired) is ErrCursorExpired; a 400
// pushNotSupportedForRequestedResource is errPushNotSupported; everything
// else is Google's common classification (google.Classify: 403 usageLimits
// reasons and 429 are rate limits, 403 otherwise forbidden, 5xx
// transient...). The body is read to find the reason and restored for the
// caller.
func (c *Connector) ClassifyResponse(resp *http.Response) error {
	switch resp.StatusCode {
	case http.StatusGone:
		return fmt.Errorf("%w: HTTP 410 %v, a full sync is required", connectors.ErrCursorExpired, google.Reasons(resp))
	case http.StatusBadRequest:
		if slices.Contains(google.Reasons(resp), reasonPushNotSupported) {
			return errPushNotSupported
		}
	}
	return google.Classify(resp)
}

// apiError prepares an error of the Calendar client for wrapping
// (google.APIError with this connector's classification).
func (c *Connector) apiError(err error) error { return google.APIError(err, c.ClassifyResponse) }
