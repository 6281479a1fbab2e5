package gcalsandbox

import (
	"net/http"

	"github.com/poblysh/poblysh/sandbox"
	googlesandbox "github.com/poblysh/poblysh/sandbox/google"
)

// ErrorBody returns a Google-shaped error body, e.g. for a sandbox.Fault.
func ErrorBody(code int, reason, message string) string {
	return googlesandbox.ErrorBody(code, reason, message)
}

func writeError(w http.ResponseWriter, code int, reason, message string) {
	googlesandbox.WriteError(w, code, reason, message)
}

// RateLimitFault is Google's 403 rate-limit answer (reason
// rateLimitExceeded or userRateLimitExceeded, domain usageLimits, no
// Retry-After) for the next count Calendar API requests.
func RateLimitFault(reason string, count int) sandbox.Fault {
	return googlesandbox.RateLimitFault(reason, count, "/calendar/v3/")
}
