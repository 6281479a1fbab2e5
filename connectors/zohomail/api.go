package zohomail

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/connectors/zoho"
)

// lockReason starts the Reason of a throttled answer without Retry-After:
// the API is then locked here for throttleLock.
const lockReason = "Zoho Mail lock after "

// throttleLock is how long the API is left alone after a throttled answer
// without Retry-After: Zoho Mail reports a lock period but not its length.
const throttleLock = 5 * time.Minute

// envelope is every Zoho Mail answer: {"status": {"code", "description"},
// "data": …} (https://www.zoho.com/mail/help/api/response-codes.html).
type envelope struct {
	Status struct {
		Code        zoho.Str `json:"code"`
		Description string   `json:"description"`
	} `json:"status"`
	Data json.RawMessage `json:"data"`
}

// errorCode reads data.errorCode of an error answer.
func (e *envelope) errorCode() string {
	var d struct {
		ErrorCode string `json:"errorCode"`
	}
	_ = json.Unmarshal(e.Data, &d)
	return d.ErrorCode
}

// ClassifyResponse implements connectors.Classifier: Zoho Mail's HTTP
// statuses map as usual, except that throttling (429, or an errorCode
// naming a limit) waits Retry-After or the lock, and other 400s name
// their errorCode.
func (c *Connector) ClassifyResponse(resp *http.Response) error {
	if resp.StatusCode != http.StatusBadRequest && resp.StatusCode != http.StatusTooManyRequests {
		return connectors.ClassifyResponse(resp)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	var e envelope
	_ = json.Unmarshal(body, &e)
	code := e.errorCode()
	if resp.StatusCode == http.StatusTooManyRequests || isLimit(code) {
		// The errorCode is the provider's text, of any length: shortened
		// like the other answers' below.
		what := trunc(cmpOr(code, "HTTP 429"), 64)
		if d, ok := connectors.RateLimitDelay(resp.Header, time.Now()); ok && d > 0 {
			return &connectors.RateLimited{RetryAfter: d, Reason: "Zoho Mail " + what}
		}
		return &connectors.RateLimited{RetryAfter: throttleLock, Reason: lockReason + what}
	}
	return fmt.Errorf("%w: Zoho Mail answered HTTP 400 %s", connectors.ErrInvalidConfig, trunc(cmpOr(code, e.Status.Description), 64))
}

func isLimit(code string) bool {
	c := strings.ToUpper(code)
	return strings.Contains(c, "LIMIT") || strings.Contains(c, "TOO_MANY") || strings.Contains(c, "THROTTL")
}

// get reads one API resource of the account into out (the envelope's
// data). A throttled API fails fast until its lock has passed.
//
// Calls are paced and locked per account, as Zoho counts them per user. A
// call before the account is known (Identify's GET /api/accounts, one per
// connect) is neither: keyed on the empty id, every user connecting would
// share one pace and wait out any one user's lock period.
func (c *Connector) get(ctx context.Context, hc *http.Client, acct connectors.Account, path string, q url.Values, out any) error {
	base, err := c.APIBase(acct)
	if err != nil {
		return err
	}
	key := ""
	if acct.ID != "" {
		key = acct.ID + "|mail"
	}
	if err := c.pace(ctx, key); err != nil {
		return err
	}
	u := base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("zoho-mail: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		c.lockOn(key, err)
		return fmt.Errorf("zoho-mail: %w", unwrapURL(err))
	}
	defer resp.Body.Close()
	var env envelope
	if err := json.NewDecoder(io.LimitReader(resp.Body, 32<<20)).Decode(&env); err != nil {
		return fmt.Errorf("zoho-mail: %w: unreadable answer: %v", connectors.ErrTransient, err)
	}
	// Some Zoho APIs answer HTTP 200 with an error status in the body.
	// Its text can echo the request: the token is cut out of it.
	if n, ok := env.Status.Code.Int(); ok && n >= 400 {
		secrets := connectors.RequestSecrets(resp.Request)
		err := classifyStatus(int(n), connectors.RedactText(env.errorCode(), secrets...), connectors.RedactText(env.Status.Description, secrets...))
		if connectors.Kind(err) == connectors.ErrRateLimited {
			// In a 200's body no transport classifier sees it: counted
			// here, and it locks the API as a 429 does.
			connectors.CountRateLimited(Name)
			c.lockOn(key, err)
		}
		return fmt.Errorf("zoho-mail: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(env.Data))
	dec.UseNumber() // ids beyond 2^53 stay exact wherever they are read
	if err := dec.Decode(out); err != nil {
		return fmt.Errorf("zoho-mail: %w: unexpected data: %v", connectors.ErrTransient, err)
	}
	return nil
}

// lockOn locks key for the lock period when err is a throttled answer
// without Retry-After (Zoho's lock), whether the transport classified it
// or it came in a 200's body. An empty key (no account yet) is never
// locked (see get).
func (c *Connector) lockOn(key string, err error) {
	var rl *connectors.RateLimited
	if key != "" && errors.As(err, &rl) && strings.HasPrefix(rl.Reason, lockReason) {
		c.Locks.Lock(key, rl.RetryAfter)
	}
}

// pace waits for the account's turn under its pace, and fails fast while
// a lock period holds it; an empty key (no account yet) waits for nothing.
func (c *Connector) pace(ctx context.Context, key string) error {
	if key == "" {
		return nil
	}
	if err := c.Locks.Check(key); err != nil {
		return fmt.Errorf("zoho-mail: %w", err)
	}
	if err := c.pacer.Wait(ctx, key, c.perMinute, "the Mail API"); err != nil {
		return fmt.Errorf("zoho-mail: %w", err)
	}
	return nil
}

// classifyStatus maps an error status found in a body.
func classifyStatus(code int, errorCode, desc string) error {
	what := trunc(cmpOr(errorCode, desc), 64)
	switch {
	case code == http.StatusTooManyRequests || isLimit(errorCode):
		return &connectors.RateLimited{RetryAfter: throttleLock, Reason: lockReason + what}
	case code == http.StatusUnauthorized:
		return fmt.Errorf("%w: %s", connectors.ErrUnauthorized, what)
	case code == http.StatusForbidden:
		return fmt.Errorf("%w: %s", connectors.ErrForbidden, what)
	case code == http.StatusNotFound:
		return fmt.Errorf("%w: %s", connectors.ErrNotFound, what)
	case code >= 500:
		return fmt.Errorf("%w: %s", connectors.ErrTransient, what)
	}
	return fmt.Errorf("%w: %s", connectors.ErrInvalidConfig, what)
}

func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func trunc(s string, n int) string {
	s = strings.ToValidUTF8(s, "")
	if len([]rune(s)) > n {
		return string([]rune(s)[:n]) + "…"
	}
	return s
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
