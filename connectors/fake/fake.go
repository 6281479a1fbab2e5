// Package fake is the engine's test provider: a connector for the fake
// sandbox (sandbox/fake). It is registered only by importing it (tests,
// benchmarks), never by connectors/all, and exercises every capability the
// engine drives: OAuth with expiring rotating tokens, paged streams with
// resumable cursors and cursor expiry, signed payload and notify webhooks.
package fake

import (
	"context"
	"crypto/hmac"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/time/rate"

	"github.com/poblysh/poblysh/connectors"
	fakesandbox "github.com/poblysh/poblysh/sandbox/fake"
)

// Spec is the fake provider's spec.
var Spec = &connectors.Spec{
	Name:         "fake",
	DisplayName:  "Fake (engine test provider)",
	Description:  "A minimal provider served by the local sandbox, used to test and benchmark the engine.",
	Kinds:        []string{"message.posted"},
	Capabilities: []connectors.Capability{connectors.CapWebhook, connectors.CapPoll, connectors.CapBackfill},
	Defaults: connectors.Endpoints{
		AuthURL: "https://fake.invalid/oauth/authorize", TokenURL: "https://fake.invalid/oauth/token",
		APIURL: "https://fake.invalid/api/", RevokeURL: "https://fake.invalid/oauth/revoke",
	},
	Scopes: []string{"items:read"},
	PKCE:   true,
	Policy: connectors.Policy{
		Rate: rate.Limit(2000), Burst: 200,
		PollInterval: time.Minute, ReconcileInterval: 10 * time.Minute, MinPollInterval: time.Minute,
		Token: connectors.TokenPolicy{Expires: true, RotatesRefreshToken: true, RefreshBefore: 5 * time.Minute},
	},
	ConfigHelp: `{"streams": ["items"]}: the streams to sync (default ["items"]).`,
	ConfigFields: []connectors.ConfigField{{
		Name: "streams", Type: "array of strings", Description: `Streams to sync (default ["items"]).`,
	}},
	Settings: []connectors.Setting{{Suffix: "PAGE_SIZE", Default: "500", Description: "items per page, 1–1000"}},
	New:      New,
}

func init() { connectors.MustRegister(Spec) }

// Connector is the fake connector.
type Connector struct {
	cfg      connectors.Config
	pageSize int
}

// New builds the connector.
func New(cfg connectors.Config) (connectors.Connector, error) {
	size := 500
	if v := cfg.Setting("PAGE_SIZE"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return nil, fmt.Errorf("POBLYSH_FAKE_PAGE_SIZE must be 1..1000")
		}
		size = n
	}
	return &Connector{cfg: cfg, pageSize: size}, nil
}

// Spec implements connectors.Connector.
func (c *Connector) Spec() *connectors.Spec { return Spec }

// OAuth2Config implements connectors.Authorizer.
func (c *Connector) OAuth2Config(redirectURL string) *oauth2.Config {
	return &oauth2.Config{ClientID: c.cfg.ClientID, ClientSecret: c.cfg.ClientSecret, RedirectURL: redirectURL,
		Scopes:   Spec.Scopes,
		Endpoint: oauth2.Endpoint{AuthURL: c.cfg.Endpoints.AuthURL, TokenURL: c.cfg.Endpoints.TokenURL, AuthStyle: oauth2.AuthStyleInHeader}}
}

// AuthCodeOptions implements connectors.Authorizer.
func (c *Connector) AuthCodeOptions() []oauth2.AuthCodeOption { return nil }

// Identify implements connectors.Authorizer.
func (c *Connector) Identify(ctx context.Context, _ *oauth2.Token, hc *http.Client) (connectors.Account, error) {
	var me struct{ ID, Name string }
	if err := c.get(ctx, hc, "me", &me); err != nil {
		return connectors.Account{}, fmt.Errorf("fake: identify: %w", err)
	}
	return connectors.Account{ID: me.ID, Name: me.Name}, nil
}

// Revoke implements connectors.Revoker.
func (c *Connector) Revoke(ctx context.Context, _ connectors.Account, tok *oauth2.Token) error {
	hc, _ := ctx.Value(oauth2.HTTPClient).(*http.Client)
	if hc == nil {
		hc = http.DefaultClient
	}
	t := tok.RefreshToken
	if t == "" {
		t = tok.AccessToken
	}
	resp, err := hc.PostForm(c.cfg.Endpoints.RevokeURL, url.Values{"token": {t}})
	if err != nil {
		return fmt.Errorf("fake: revoke: %w", connectors.ErrTransient)
	}
	resp.Body.Close()
	return nil
}

var streamName = regexp.MustCompile(`^[a-z0-9_-]{1,32}$`)

type config struct {
	Streams []string `json:"streams"`
}

// ValidateConfig implements connectors.ConfigValidator.
func (c *Connector) ValidateConfig(raw json.RawMessage) (json.RawMessage, error) {
	var cfg config
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return nil, &connectors.ConfigError{Fields: map[string]string{"streams": "config must be {\"streams\": [names]}"}}
	}
	if len(cfg.Streams) == 0 {
		cfg.Streams = []string{"items"}
	}
	for _, s := range cfg.Streams {
		if !streamName.MatchString(s) {
			return nil, &connectors.ConfigError{Fields: map[string]string{"streams": "names must match " + streamName.String()}}
		}
	}
	return json.Marshal(cfg)
}

// Streams implements connectors.Syncer.
func (c *Connector) Streams(conn connectors.Connection) ([]string, error) {
	var cfg config
	if len(conn.Config) > 0 {
		if err := json.Unmarshal(conn.Config, &cfg); err != nil {
			return nil, fmt.Errorf("fake: config: %w", connectors.ErrInvalidConfig)
		}
	}
	if len(cfg.Streams) == 0 {
		cfg.Streams = []string{"items"}
	}
	return cfg.Streams, nil
}

type cursor struct {
	After int `json:"after"`
}

// FetchPage implements connectors.Syncer: items after the cursor's id.
func (c *Connector) FetchPage(ctx context.Context, req connectors.PageRequest) (*connectors.Page, error) {
	var cur cursor
	if len(req.Cursor) > 0 {
		if err := json.Unmarshal(req.Cursor, &cur); err != nil {
			return nil, fmt.Errorf("fake: cursor: %w", connectors.ErrCursorExpired)
		}
	}
	var body struct {
		Items   []fakesandbox.Item `json:"items"`
		LastID  int                `json:"last_id"`
		HasMore bool               `json:"has_more"`
	}
	path := fmt.Sprintf("streams/%s/items?after=%d&limit=%d", url.PathEscape(req.Stream), cur.After, c.pageSize)
	if err := c.get(ctx, req.HTTP, path, &body); err != nil {
		return nil, fmt.Errorf("fake: list %s: %w", req.Stream, err)
	}
	page := &connectors.Page{Items: len(body.Items), Done: !body.HasMore}
	for _, it := range body.Items {
		page.Signals = append(page.Signals, Normalize(it))
	}
	page.Next, _ = json.Marshal(cursor{After: body.LastID})
	return page, nil
}

// Normalize maps an item to its Signal; webhooks and pages agree on keys.
func Normalize(it fakesandbox.Item) connectors.Signal {
	at, _ := time.Parse(time.RFC3339, it.CreatedAt)
	raw, _ := json.Marshal(it)
	return connectors.Signal{
		Kind: "message.posted", OccurredAt: at, DedupeKey: fmt.Sprintf("item:%s:%d", it.Stream, it.ID), Raw: raw,
		Payload: connectors.Payload{
			Title: it.Title, URL: fmt.Sprintf("https://fake.invalid/%s/%d", it.Stream, it.ID),
			Actor:   connectors.Actor{ID: it.Author, Name: it.Author},
			Subject: connectors.Ref{Type: "item", ID: strconv.Itoa(it.ID)}, Context: connectors.Ref{Type: "stream", ID: it.Stream, Name: it.Stream},
			Attributes: map[string]any{"channel_id": it.Stream, "ts": strconv.Itoa(it.ID)},
		},
	}
}

// ClassifyResponse implements connectors.Classifier: 410 means the cursor expired.
func (c *Connector) ClassifyResponse(resp *http.Response) error {
	if resp.StatusCode == http.StatusGone {
		return connectors.ErrCursorExpired
	}
	return connectors.ClassifyResponse(resp)
}

func (c *Connector) get(ctx context.Context, hc *http.Client, path string, dst any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.cfg.Endpoints.APIURL+path, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(dst); err != nil {
		return fmt.Errorf("%w: bad response body", connectors.ErrTransient)
	}
	return nil
}

// RouteKeys implements connectors.Router.
func (c *Connector) RouteKeys(conn connectors.Connection) ([]string, error) {
	return []string{"account:" + conn.Account.ID}, nil
}

// VerifyWebhook implements connectors.WebhookReceiver (HMAC-SHA256 of the body).
func (c *Connector) VerifyWebhook(req *connectors.WebhookRequest) error {
	if c.cfg.WebhookSecret == "" {
		return fmt.Errorf("fake: %w: no webhook secret configured", connectors.ErrUnauthorized)
	}
	got := req.Header.Get("X-Fake-Signature")
	want := fakesandbox.Sign(c.cfg.WebhookSecret, req.Body)
	if got == "" || !hmac.Equal([]byte(got), []byte(want)) {
		return fmt.Errorf("fake: %w: bad signature", connectors.ErrUnauthorized)
	}
	return nil
}

// ParseWebhook implements connectors.WebhookReceiver.
func (c *Connector) ParseWebhook(req *connectors.WebhookRequest) (*connectors.WebhookDelivery, error) {
	var d fakesandbox.Delivery
	if err := json.Unmarshal(req.Body, &d); err != nil {
		return nil, fmt.Errorf("fake: payload: %w", err)
	}
	id := req.Header.Get("X-Fake-Delivery")
	if id == "" || d.Account == "" {
		return nil, fmt.Errorf("fake: delivery id and account are required")
	}
	out := &connectors.WebhookDelivery{DeliveryID: id, Event: "items", RouteKeys: []string{"account:" + d.Account}, Notify: d.Notify}
	for _, it := range d.Items {
		out.Signals = append(out.Signals, Normalize(it))
	}
	return out, nil
}
