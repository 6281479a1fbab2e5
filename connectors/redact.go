package connectors

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// Redacted replaces a secret in an error's text.
const Redacted = "[redacted]"

// minSecret is the length below which a value is not redacted: no
// provider's token, code or client secret is that short, and a shorter
// value (a test fixture's "tok") would match ordinary words of a message.
const minSecret = 8

// RedactText returns s with every occurrence of each secret replaced by
// Redacted: the value as sent, form-encoded, and cut short where a
// shortened text ends ("…" after the first characters of a secret, which
// no longer match it whole). Error text a provider supplies can echo the
// request that failed (a proxy's or a WAF's page, an error quoting the
// form), and with it the tokens and the client secret it carried.
func RedactText(s string, secrets ...string) string {
	var forms []string
	for _, v := range secrets {
		if len(v) < minSecret {
			continue
		}
		forms = append(forms, v)
		if q := url.QueryEscape(v); q != v {
			forms = append(forms, q)
		}
	}
	// Longer forms first: a secret that contains another is replaced
	// whole, not around the shorter one's placeholder.
	slices.SortFunc(forms, func(a, b string) int { return len(b) - len(a) })
	for _, f := range forms {
		if !strings.Contains(s, f[:minSecret]) {
			continue
		}
		s = strings.ReplaceAll(s, f, Redacted)
		for n := len(f) - 1; n >= minSecret; n-- {
			s = strings.ReplaceAll(s, f[:n]+"…", Redacted+"…")
		}
	}
	return s
}

// BasicCredential is the value of a Basic Authorization header for a
// client (RFC 6749 §2.3.1 form-encodes both parts first; some clients do
// not), for RedactText: a request echoed with its headers carries the
// client secret in this form.
func BasicCredential(clientID, clientSecret string) []string {
	if clientSecret == "" {
		return nil
	}
	return []string{
		base64.StdEncoding.EncodeToString([]byte(clientID + ":" + clientSecret)),
		base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(clientID) + ":" + url.QueryEscape(clientSecret))),
	}
}

// RequestSecrets are the credentials of req's Authorization header (the
// whole value and the part after the scheme), for RedactText. The Transport
// cuts them out of the errors it returns; provider code that reads error
// text from an answer the Transport let through (an HTTP 200 with an error
// status in its body) cuts them out with resp.Request, the authorized copy
// of the request that the answer belongs to.
func RequestSecrets(req *http.Request) []string {
	if req == nil {
		return nil
	}
	return authSecrets(req.Header.Get("Authorization"))
}

func authSecrets(auth string) []string {
	_, cred, _ := strings.Cut(auth, " ")
	return []string{auth, cred}
}

// RedactError returns err itself when its message holds none of secrets
// (RedactText), else an error with the redacted message that errors.Is
// still matches to the same neutral errors (so Kind and IsPermanent decide
// as before) and that carries a rate limit's wait. The original chain is
// not kept: each of its messages holds the secret, and whatever walks a
// chain (Temporal's failure causes, a logger) would print them.
func RedactError(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	red := RedactText(msg, secrets...)
	if red == msg {
		return err
	}
	out := &redactedError{msg: red}
	for _, k := range []error{ErrRateLimited, ErrUnauthorized, ErrForbidden, ErrNotFound, ErrCursorExpired, ErrInvalidConfig,
		ErrTransient, context.Canceled, context.DeadlineExceeded} {
		if errors.Is(err, k) {
			out.kinds = append(out.kinds, k)
		}
	}
	if len(out.kinds) == 0 {
		out.kinds = []error{Kind(err)}
	}
	var rl *RateLimited
	if errors.As(err, &rl) {
		out.limit = &RateLimited{RetryAfter: rl.RetryAfter, Reason: RedactText(rl.Reason, secrets...), Floor: rl.Floor}
	}
	return out
}

// redactedError is RedactError's error: its message, the neutral errors
// the original matched, and a copy of its rate limit.
type redactedError struct {
	msg   string
	kinds []error
	limit *RateLimited
}

func (e *redactedError) Error() string { return e.msg }

// Is matches the neutral errors the original matched.
func (e *redactedError) Is(target error) bool { return slices.Contains(e.kinds, target) }

// Unwrap exposes the rate limit (RetryAfter, a provider's lock check), if any.
func (e *redactedError) Unwrap() error {
	if e.limit == nil {
		return nil
	}
	return e.limit
}
