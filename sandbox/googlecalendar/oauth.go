package gcalsandbox

import (
	googlesandbox "github.com/poblysh/poblysh/sandbox/google"
)

// Subject is the stable OpenID subject ("sub") of a sandbox user
// (googlesandbox.Subject).
func Subject(email string) string { return googlesandbox.Subject(email) }
