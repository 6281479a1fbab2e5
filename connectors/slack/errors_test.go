package slack

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	slackapi "github.com/slack-go/slack"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
)

func answer(status int, ctype, body string, h map[string]string) *http.Response {
	hdr := http.Header{}
	if ctype != "" {
		hdr.Set("Content-Type", ctype)
	}
	for k, v := range h {
		hdr.Set(k, v)
	}
	return &http.Response{StatusCode: status, Header: hdr, Body: io.NopCloser(strings.NewReader(body))}
}

func TestClassifyResponse(t *testing.T) {
	const js = "application/json; charset=utf-8"
	okFalse := func(code string) string { return `{"ok":false,"error":"` + code + `"}` }
	big := `{"ok":true,"messages":[` + strings.Repeat(`{"type":"message","text":"x"},`, 5000) + `{}]}`
	tests := []struct {
		name  string
		resp  *http.Response
		want  error // nil: success
		retry time.Duration
		code  string
	}{
		{"ok true", answer(200, js, `{"ok":true,"messages":[]}`, nil), nil, 0, ""},
		{"large ok true", answer(200, js, big, nil), nil, 0, ""},
		{"not json", answer(200, "text/plain", "ok", nil), nil, 0, ""},
		{"invalid_auth", answer(200, js, okFalse("invalid_auth"), nil), connectors.ErrUnauthorized, 0, "invalid_auth"},
		{"not_authed", answer(200, js, okFalse("not_authed"), nil), connectors.ErrUnauthorized, 0, "not_authed"},
		{"token_revoked", answer(200, js, okFalse("token_revoked"), nil), connectors.ErrUnauthorized, 0, "token_revoked"},
		{"token_expired", answer(200, js, okFalse("token_expired"), nil), connectors.ErrUnauthorized, 0, "token_expired"},
		{"account_inactive", answer(200, js, okFalse("account_inactive"), nil), connectors.ErrUnauthorized, 0, "account_inactive"},
		{"missing_scope", answer(200, js, `{"ok":false,"error":"missing_scope","needed":"groups:history","provided":"channels:history"}`, nil), connectors.ErrForbidden, 0, "missing_scope"},
		{"not_in_channel", answer(200, js, okFalse("not_in_channel"), nil), connectors.ErrForbidden, 0, "not_in_channel"},
		{"channel_not_found", answer(200, js, okFalse("channel_not_found"), nil), connectors.ErrNotFound, 0, "channel_not_found"},
		{"invalid_cursor", answer(200, js, okFalse("invalid_cursor"), nil), connectors.ErrCursorExpired, 0, "invalid_cursor"},
		{"internal_error", answer(200, js, okFalse("internal_error"), nil), connectors.ErrTransient, 0, "internal_error"},
		{"fatal_error", answer(200, js, okFalse("fatal_error"), nil), connectors.ErrTransient, 0, "fatal_error"},
		{"service_unavailable", answer(200, js, okFalse("service_unavailable"), nil), connectors.ErrTransient, 0, "service_unavailable"},
		{"request_timeout", answer(200, js, okFalse("request_timeout"), nil), connectors.ErrTransient, 0, "request_timeout"},
		{"team_added_to_org", answer(200, js, okFalse("team_added_to_org"), nil), connectors.ErrTransient, 0, "team_added_to_org"},
		{"org_login_required", answer(200, js, okFalse("org_login_required"), nil), connectors.ErrTransient, 0, "org_login_required"},
		{"invalid_code", answer(200, js, okFalse("invalid_code"), nil), connectors.ErrUnauthorized, 0, "invalid_code"},
		{"bad_client_secret", answer(200, js, okFalse("bad_client_secret"), nil), connectors.ErrInvalidConfig, 0, "bad_client_secret"},
		{"unknown code", answer(200, js, okFalse("invalid_arguments"), nil), connectors.ErrInvalidConfig, 0, "invalid_arguments"},
		{"ratelimited in body", answer(200, js, okFalse("ratelimited"), map[string]string{"Retry-After": "12"}), connectors.ErrRateLimited, 12 * time.Second, ""},
		{"429 retry-after", answer(429, js, okFalse("ratelimited"), map[string]string{"Retry-After": "7"}), connectors.ErrRateLimited, 7 * time.Second, ""},
		{"500", answer(500, "text/html", "<html>oops</html>", nil), connectors.ErrTransient, 0, ""},
		{"503", answer(503, js, okFalse("service_unavailable"), nil), connectors.ErrTransient, 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var before string
			if tc.resp.StatusCode == 200 {
				b, _ := io.ReadAll(tc.resp.Body)
				before = string(b)
				tc.resp.Body = io.NopCloser(strings.NewReader(before))
			}
			err := (&Connector{}).ClassifyResponse(tc.resp)
			if tc.want == nil {
				require.NoError(t, err)
				after, rerr := io.ReadAll(tc.resp.Body)
				require.NoError(t, rerr)
				require.Equal(t, before, string(after), "the peeked body is restored")
				return
			}
			require.ErrorIs(t, err, tc.want)
			require.Equal(t, tc.want, connectors.Kind(err))
			if tc.want == connectors.ErrRateLimited {
				d, ok := connectors.RetryAfter(err)
				require.True(t, ok)
				require.Equal(t, tc.retry, d)
			}
			if tc.code != "" {
				require.Equal(t, tc.code, slackCode(err))
				require.Contains(t, err.Error(), tc.code, "the Slack code is in the message")
			}
		})
	}
}

// TestMapError covers slack-go's own error types (what it returns when the
// client is not the engine's classifying one) and errors already neutral.
func TestMapError(t *testing.T) {
	wrapped := &url.Error{Op: "Post", URL: "https://slack.com/api/conversations.history", Err: fmt.Errorf("POST /api/conversations.history: %w", apiError("not_in_channel", nil))}
	tests := []struct {
		name  string
		err   error
		want  error
		retry time.Duration
	}{
		{"slack error response", slackapi.SlackErrorResponse{Err: "channel_not_found"}, connectors.ErrNotFound, 0},
		{"slack error response auth", slackapi.SlackErrorResponse{Err: "invalid_auth"}, connectors.ErrUnauthorized, 0},
		{"slack rate limited", &slackapi.RateLimitedError{RetryAfter: 30 * time.Second}, connectors.ErrRateLimited, 30 * time.Second},
		{"status code 503", slackapi.StatusCodeError{Code: 503, Status: "503 Service Unavailable"}, connectors.ErrTransient, 0},
		{"status code 404", slackapi.StatusCodeError{Code: 404, Status: "404 Not Found"}, connectors.ErrNotFound, 0},
		{"engine transport error", wrapped, connectors.ErrForbidden, 0},
		{"decode error", errors.New("invalid character 'x'"), connectors.ErrTransient, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := mapError("conversations.history C1", tc.err)
			require.ErrorIs(t, err, tc.want)
			require.Equal(t, tc.want, connectors.Kind(err))
			require.True(t, strings.HasPrefix(err.Error(), "slack: conversations.history C1: "), err.Error())
			if tc.retry > 0 {
				d, _ := connectors.RetryAfter(err)
				require.Equal(t, tc.retry, d)
			}
		})
	}
	require.Equal(t, "not_in_channel", slackCode(mapError("x", wrapped)), "the code survives the transport's wrapping")
	require.NoError(t, mapError("x", nil))
}
