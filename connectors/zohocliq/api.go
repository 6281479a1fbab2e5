package zohocliq

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
)

// APIs with a threshold and lock period of their own, the unit of Zoho's
// throttling (a lock on messages leaves mentions alone).
const (
	apiMessages = "messages"
	apiMentions = "mentions"
	apiChannels = "channels"
	apiUsers    = "users"
)

// ClassifyResponse implements connectors.Classifier for Cliq. A throttled
// call is answered HTTP 400 {"code": "request_limit_exceeded"} (reported by
// users; Zoho documents the threshold and lock period per API but not the
// answer) or 429: both are a rate limit for the lock period, since Zoho
// sends no Retry-After (one given is honoured). Other 400s are
// configuration errors; 401, 403, 404 and 5xx map as usual.
func (c *Connector) ClassifyResponse(resp *http.Response) error {
	switch resp.StatusCode {
	case http.StatusBadRequest:
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		_ = resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(body))
		var e struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		}
		_ = json.Unmarshal(body, &e)
		if strings.EqualFold(e.Code, "request_limit_exceeded") || strings.Contains(strings.ToLower(e.Message), "throttle") {
			return c.throttled(resp, "request_limit_exceeded")
		}
		if e.Code != "" {
			return fmt.Errorf("%w: Cliq answered HTTP 400 %s", connectors.ErrInvalidConfig, trunc(e.Code, 64))
		}
	case http.StatusTooManyRequests:
		return c.throttled(resp, "HTTP 429")
	}
	return connectors.ClassifyResponse(resp)
}

// lockReason starts the Reason of a throttled answer without Retry-After:
// the API is locked for the lock period.
const lockReason = "Cliq lock period after "

// throttled is a rate limit for Retry-After when Zoho sends one, else for
// the lock period (and get then locks the API locally).
func (c *Connector) throttled(resp *http.Response, what string) error {
	if d, ok := connectors.RateLimitDelay(resp.Header, time.Now()); ok && d > 0 {
		return &connectors.RateLimited{RetryAfter: d, Reason: "Cliq " + what}
	}
	return &connectors.RateLimited{RetryAfter: c.lock, Reason: lockReason + what}
}

// lockedFor reports the lock period a throttled error asks for.
func lockedFor(err error) (time.Duration, bool) {
	var rl *connectors.RateLimited
	if errors.As(err, &rl) && strings.HasPrefix(rl.Reason, lockReason) {
		return rl.RetryAfter, true
	}
	return 0, false
}

// get reads one API resource of an account into out. A locked API fails
// fast with the time left, without a request; a throttled answer locks it.
// The messages API is also paced under its threshold.
func (c *Connector) get(ctx context.Context, hc *http.Client, acct connectors.Account, api, path string, q url.Values, out any) error {
	base, err := c.APIBase(acct)
	if err != nil {
		return err
	}
	key := acct.ID + "|" + api
	if err := c.Locks.Check(key); err != nil {
		return fmt.Errorf("zoho-cliq: %s: %w", api, err)
	}
	if err := c.waitPace(ctx, acct.ID, api); err != nil {
		return err
	}
	u := base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("zoho-cliq: %s: %w", api, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		if d, ok := lockedFor(err); ok {
			c.Locks.Lock(key, d)
		}
		return fmt.Errorf("zoho-cliq: %s: %w", api, unwrapURL(err))
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(out); err != nil {
		return fmt.Errorf("zoho-cliq: %s: %w: unreadable answer: %v", api, connectors.ErrTransient, err)
	}
	return nil
}

// waitPace waits for the account's budget of an API.
func (c *Connector) waitPace(ctx context.Context, account, api string) error {
	if err := c.pacer.Wait(ctx, account+"|"+api, c.perMinute[api], "the "+api+" API"); err != nil {
		return fmt.Errorf("zoho-cliq: %w", err)
	}
	return nil
}

// unwrapURL drops the *url.Error wrapper (its URL is noise in errors).
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
