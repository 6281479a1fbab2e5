package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Demoer is implemented by a fake that takes part in `make demo`
// (cmd/demo): a provider joins the demo by implementing it in its own
// sandbox package, and nothing else has to name it.
type Demoer interface {
	// Demo describes the fake's part in the demo.
	Demo() Demo
}

// Demo is a fake's part in the demo: what to connect, and how to make
// some live activity once the backfill is done.
type Demo struct {
	// Config is the connection config the demo connects with; it names
	// what the fake seeds (a repository, channels, a calendar...).
	Config any
	// Activity creates one happening through the control API of the fake
	// served at baseURL (usually another process, `poblysh sandbox`), so
	// that the fake delivers the provider's webhook or push notification.
	// marker must appear in the happening's title (or text), so the demo
	// recognises its Signal in the feed.
	Activity func(ctx context.Context, c *http.Client, baseURL, marker string) (DemoActivity, error)
	// Connected, when set, runs once the connection exists, with its
	// webhook_url: the set-up a provider's user does by hand with that URL
	// (a Zoho Cliq bot's execution URL, a Zoho Mail outgoing webhook),
	// done through the control API of the fake at baseURL.
	Connected func(ctx context.Context, c *http.Client, baseURL, webhookURL string) error
}

// DemoActivity says what Activity did and which Signal it should yield.
type DemoActivity struct {
	// Kind is the Signal kind the happening yields (e.g. "message.posted").
	Kind string
	// Description is one line for the terminal ("posted a message in #general").
	Description string
}

// Issuer is a fake that hands out OAuth tokens; tests check that none of
// them reaches the service's logs or database in clear. Every fake built
// on Base implements it.
type Issuer interface {
	// IssuedTokens lists every access and refresh token still known.
	IssuedTokens() []string
}

// IssuedTokens implements Issuer.
func (b *Base) IssuedTokens() []string { return b.OAuth.Issued() }

// ControlJSON sends a JSON body to a control route of the fake served at
// baseURL and decodes its JSON answer into out (nil: ignored). A non-2xx
// answer is an error that quotes the body.
func ControlJSON(ctx context.Context, c *http.Client, method, baseURL, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	u := strings.TrimRight(baseURL, "/") + path
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("sandbox %s %s: %w", method, u, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("sandbox %s %s: %s %s", method, u, resp.Status, strings.TrimSpace(string(raw)))
	}
	if out == nil || len(bytes.TrimSpace(raw)) == 0 {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("sandbox %s %s: unreadable answer %s", method, u, raw)
	}
	return nil
}
