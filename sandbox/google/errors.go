package googlesandbox

import (
	"encoding/json"
	"net/http"

	"github.com/poblysh/poblysh/sandbox"
)

// errorItem is one entry of a Google error's "errors" list.
type errorItem struct {
	Domain       string `json:"domain"`
	Reason       string `json:"reason"`
	Message      string `json:"message"`
	LocationType string `json:"locationType,omitempty"`
	Location     string `json:"location,omitempty"`
}

// googleError is the body of every Google API error.
type googleError struct {
	Error struct {
		Code    int         `json:"code"`
		Message string      `json:"message"`
		Errors  []errorItem `json:"errors"`
		Status  string      `json:"status,omitempty"`
	} `json:"error"`
}

// statusNames are the canonical status strings Google adds to errors.
var statusNames = map[int]string{
	400: "INVALID_ARGUMENT",
	401: "UNAUTHENTICATED",
	403: "PERMISSION_DENIED",
	404: "NOT_FOUND",
	409: "ALREADY_EXISTS",
	429: "RESOURCE_EXHAUSTED",
	500: "INTERNAL",
	503: "UNAVAILABLE",
}

// domainOf is the error domain of a reason.
func domainOf(reason string) string {
	switch reason {
	case "rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded":
		return "usageLimits"
	}
	return "global"
}

// ErrorBody returns a Google-shaped error body, e.g. for a sandbox.Fault.
func ErrorBody(code int, reason, message string) string {
	var g googleError
	g.Error.Code = code
	g.Error.Message = message
	g.Error.Status = statusNames[code]
	g.Error.Errors = []errorItem{{Domain: domainOf(reason), Reason: reason, Message: message}}
	if code == http.StatusUnauthorized {
		g.Error.Errors[0].LocationType, g.Error.Errors[0].Location = "header", "Authorization"
	}
	b, _ := json.Marshal(g)
	return string(b)
}

// WriteError answers a Google API error.
func WriteError(w http.ResponseWriter, code int, reason, message string) {
	if code == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="https://accounts.google.com/", error="invalid_token"`)
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(ErrorBody(code, reason, message)))
}

// FaultBody is the default body of injected faults: what Google answers
// with for each status. A 403 is a plain permission error; use
// RateLimitFault for Google's 403 rate limit.
func FaultBody(status int) (string, string) {
	reason, msg := "backendError", "Backend Error"
	switch status {
	case 400:
		reason, msg = "badRequest", "Bad Request"
	case 401:
		reason, msg = "authError", "Invalid Credentials"
	case 403:
		reason, msg = "forbidden", "Forbidden"
	case 404:
		reason, msg = "notFound", "Not Found"
	case 409:
		reason, msg = "duplicate", "The requested identifier already exists."
	case 410:
		reason, msg = "fullSyncRequired", "Sync token is no longer valid, a full sync is required."
	case 429:
		reason, msg = "rateLimitExceeded", "Rate Limit Exceeded"
	case 503:
		msg = "The service is currently unavailable."
	}
	return "application/json; charset=UTF-8", ErrorBody(status, reason, msg)
}

// RateLimitFault is Google's 403 rate-limit answer (reason
// rateLimitExceeded or userRateLimitExceeded, domain usageLimits, no
// Retry-After) for the next count API requests under pathPrefix.
func RateLimitFault(reason string, count int, pathPrefix string) sandbox.Fault {
	msg := "Rate Limit Exceeded"
	if reason == "userRateLimitExceeded" {
		msg = "User Rate Limit Exceeded"
	}
	return sandbox.Fault{Status: http.StatusForbidden, Body: ErrorBody(http.StatusForbidden, reason, msg), Count: count, PathPrefix: pathPrefix}
}

// TooManyRequestsFault is Google's 429 (reason rateLimitExceeded) with a
// Retry-After of retryAfter seconds, for the next count API requests under
// pathPrefix.
func TooManyRequestsFault(retryAfter, count int, pathPrefix string) sandbox.Fault {
	return sandbox.Fault{Status: http.StatusTooManyRequests, RetryAfter: retryAfter, Count: count, PathPrefix: pathPrefix,
		Body: ErrorBody(http.StatusTooManyRequests, "rateLimitExceeded", "Rate Limit Exceeded")}
}
