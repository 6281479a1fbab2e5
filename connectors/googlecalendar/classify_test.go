package googlecalendar

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
)

func googleErr(code int, domain, reason string) string {
	return `{"error":{"code":` + strconv.Itoa(code) + `,"message":"m","errors":[{"domain":"` + domain + `","reason":"` + reason + `","message":"m"}]}}`
}

func TestClassifyResponse(t *testing.T) {
	c := &Connector{}
	cases := []struct {
		name       string
		status     int
		body       string
		header     map[string]string
		want       error
		retryAfter time.Duration
		// unwatchable: the calendar cannot be watched (it polls).
		unwatchable bool
	}{
		{name: "200", status: 200, body: `{}`},
		{name: "304", status: 304},
		{name: "410 sync token expired", status: 410, body: googleErr(410, "global", "fullSyncRequired"), want: connectors.ErrCursorExpired},
		{name: "410 without body", status: 410, want: connectors.ErrCursorExpired},
		{name: "403 rateLimitExceeded", status: 403, body: googleErr(403, "usageLimits", "rateLimitExceeded"), want: connectors.ErrRateLimited},
		{name: "403 userRateLimitExceeded", status: 403, body: googleErr(403, "usageLimits", "userRateLimitExceeded"), want: connectors.ErrRateLimited},
		{name: "403 quotaExceeded", status: 403, body: googleErr(403, "usageLimits", "quotaExceeded"), want: connectors.ErrRateLimited},
		{name: "403 dailyLimitExceeded", status: 403, body: googleErr(403, "usageLimits", "dailyLimitExceeded"), want: connectors.ErrRateLimited},
		{name: "403 rate limit with Retry-After", status: 403, body: googleErr(403, "usageLimits", "rateLimitExceeded"), header: map[string]string{"Retry-After": "3"}, want: connectors.ErrRateLimited, retryAfter: 3 * time.Second},
		{name: "403 insufficient permissions", status: 403, body: googleErr(403, "global", "insufficientPermissions"), want: connectors.ErrForbidden},
		{name: "403 not JSON", status: 403, body: `<html>Forbidden</html>`, want: connectors.ErrForbidden},
		{name: "429", status: 429, body: googleErr(429, "usageLimits", "rateLimitExceeded"), header: map[string]string{"Retry-After": "7"}, want: connectors.ErrRateLimited, retryAfter: 7 * time.Second},
		{name: "401", status: 401, body: googleErr(401, "global", "authError"), want: connectors.ErrUnauthorized},
		{name: "401 without body", status: 401, want: connectors.ErrUnauthorized},
		// events.watch on a callback URL whose domain the project has not
		// verified: the grant is fine, so not a refusal of the token.
		{name: "401 push.webhookUrlUnauthorized", status: 401, body: googleErr(401, "global", "push.webhookUrlUnauthorized"), want: connectors.ErrInvalidConfig},
		{name: "404", status: 404, body: googleErr(404, "global", "notFound"), want: connectors.ErrNotFound},
		{name: "400", status: 400, body: googleErr(400, "global", "invalid"), want: connectors.ErrInvalidConfig},
		{name: "400 pushNotSupportedForRequestedResource", status: 400, body: googleErr(400, "global", "pushNotSupportedForRequestedResource"), want: connectors.ErrInvalidConfig, unwatchable: true},
		{name: "503", status: 503, body: googleErr(503, "global", "backendError"), want: connectors.ErrTransient},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := &http.Response{StatusCode: tc.status, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(tc.body))}
			for k, v := range tc.header {
				resp.Header.Set(k, v)
			}
			err := c.ClassifyResponse(resp)
			if tc.want == nil {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, tc.want)
				require.Equal(t, tc.want, connectors.Kind(err))
				d, _ := connectors.RetryAfter(err)
				require.Equal(t, tc.retryAfter, d)
			}
			require.Equal(t, tc.unwatchable, errors.Is(err, errPushNotSupported))
			rest, rerr := io.ReadAll(resp.Body)
			require.NoError(t, rerr)
			require.Equal(t, tc.body, string(rest), "the body is restored for the caller")
		})
	}
}
