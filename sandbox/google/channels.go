package googlesandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/poblysh/poblysh/sandbox"
)

// GoogleUserAgent is what Google's push notifications carry.
const GoogleUserAgent = "APIs-Google; (+https://developers.google.com/webmasters/APIs-Google.html)"

var channelIDPattern = regexp.MustCompile(`^[A-Za-z0-9\-_+/=]{1,64}$`)

// Channel is a registered watch channel.
type Channel struct {
	ID, Token, Address string
	// Key is what the channel watches (a calendar id, a change feed); Notify
	// reaches every live channel of a key.
	Key         string
	ResourceID  string
	ResourceURI string
	// User is whose token opened it.
	User       string
	Expiration time.Time
	Stopped    bool
	// Messages is the last message number sent.
	Messages int64
}

// Live reports whether the channel still delivers at now.
func (c *Channel) Live(now time.Time) bool { return !c.Stopped && now.Before(c.Expiration) }

// Notification is one push notification sent (or held) for a change.
type Notification struct {
	ChannelID     string           `json:"channel_id"`
	MessageNumber int64            `json:"message_number"`
	State         string           `json:"state"`
	Held          bool             `json:"held,omitempty"`
	Results       []DeliveryResult `json:"results,omitempty"`
}

// DeliveryResult is the outcome of one attempt to deliver a notification.
type DeliveryResult struct {
	Status int    `json:"status,omitempty"`
	Body   string `json:"body,omitempty"`
	Error  string `json:"error,omitempty"`
}

// Results converts deliverer results for reports.
func Results(rs []sandbox.Result) []DeliveryResult {
	out := make([]DeliveryResult, 0, len(rs))
	for _, r := range rs {
		dr := DeliveryResult{Status: r.Status, Body: r.Body}
		if r.Err != nil {
			dr.Error = r.Err.Error()
		}
		out = append(out, dr)
	}
	return out
}

// Channels is the watch-channel registry of a Google fake: watch requests
// register channels, channels.stop stops them, and Notify pushes Google's
// bodiless notifications (X-Goog-* headers) to every live channel of a key.
type Channels struct {
	// Deliverer sends the notifications (retrying 5xx, as Google does).
	Deliverer *sandbox.Deliverer
	// Now is the clock.
	Now func() time.Time
	// DefaultTTL applies when a watch asks for no expiration; MaxTTL caps
	// what it asks.
	DefaultTTL, MaxTTL time.Duration

	mu sync.Mutex
	m  map[string]*Channel

	sendMu     sync.Mutex // serializes pushes (the deliverer has one target)
	autoTarget string
	pending    sync.WaitGroup
}

func (c *Channels) now() time.Time { return c.Now().UTC() }

// watchRequest is the Channel body of a watch call (expiration is an int64
// sent as a string by Google's clients; a number is accepted too).
type watchRequest struct {
	ID         string            `json:"id"`
	Type       string            `json:"type"`
	Address    string            `json:"address"`
	Token      string            `json:"token"`
	Expiration json.Number       `json:"expiration"`
	Params     map[string]string `json:"params"`
}

// Watch serves a watch call for g on key: it validates the Channel body,
// registers the channel, answers with its resourceId and expiration
// (params.ttl seconds, else the requested expiration, else DefaultTTL;
// capped at MaxTTL), then sends the "sync" notification (message 1) in the
// background. The fake checks that g may read key before calling it.
func (c *Channels) Watch(w http.ResponseWriter, r *http.Request, g sandbox.Grant, key, resourceID, resourceURI string) {
	var req watchRequest
	dec := json.NewDecoder(r.Body)
	dec.UseNumber()
	if err := dec.Decode(&req); err != nil {
		WriteError(w, http.StatusBadRequest, "parseError", "Parse Error")
		return
	}
	switch {
	case !channelIDPattern.MatchString(req.ID):
		WriteError(w, http.StatusBadRequest, "invalid", "Invalid channel id: 1 to 64 characters of [A-Za-z0-9-_+/=].")
		return
	case req.Type != "web_hook" && req.Type != "webhook":
		WriteError(w, http.StatusBadRequest, "invalid", "Invalid value for type: "+req.Type)
		return
	case !webAddress(req.Address):
		// Google requires https; the sandbox also accepts http for local runs.
		WriteError(w, http.StatusBadRequest, "push.webhookUrlNotHttps", "WebHook callback must be HTTPS: "+req.Address)
		return
	}
	now := c.now()
	exp := now.Add(c.DefaultTTL)
	if ttl, err := strconv.ParseInt(req.Params["ttl"], 10, 64); err == nil && ttl > 0 {
		exp = now.Add(time.Duration(ttl) * time.Second)
	} else if ms, err := req.Expiration.Int64(); err == nil && ms > 0 {
		exp = time.UnixMilli(ms).UTC()
	}
	if limit := now.Add(c.MaxTTL); exp.After(limit) {
		exp = limit
	}
	exp = exp.Truncate(time.Millisecond)

	c.mu.Lock()
	if c.m == nil {
		c.m = map[string]*Channel{}
	}
	if _, dup := c.m[req.ID]; dup {
		c.mu.Unlock()
		WriteError(w, http.StatusBadRequest, "channelIdNotUnique", "Channel id "+req.ID+" not unique")
		return
	}
	ch := &Channel{ID: req.ID, Token: req.Token, Address: req.Address, Key: key, User: g.UserID,
		ResourceID: resourceID, ResourceURI: resourceURI, Expiration: exp, Messages: 1}
	c.m[ch.ID] = ch
	sync := c.deliveryLocked(ch, "sync", 1, nil)
	c.mu.Unlock()

	resp := map[string]string{"kind": "api#channel", "id": ch.ID, "resourceId": ch.ResourceID,
		"resourceUri": ch.ResourceURI, "expiration": strconv.FormatInt(exp.UnixMilli(), 10)}
	if ch.Token != "" {
		resp["token"] = ch.Token
	}
	sandbox.WriteJSON(w, http.StatusOK, resp)

	c.pending.Add(1)
	go func() {
		defer c.pending.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c.send(ctx, ch.Address, sync, sandbox.DeliveryOptions{})
	}()
}

// webAddress reports whether address is an absolute http(s) URL (its
// parsed scheme, which is case-insensitive).
func webAddress(address string) bool {
	u, err := url.Parse(address)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
}

// Stop serves channels.stop for g: 204, or 404 for a channel that is
// unknown, someone else's, already stopped or expired, or whose resourceId
// differs.
func (c *Channels) Stop(w http.ResponseWriter, r *http.Request, g sandbox.Grant) {
	var req struct {
		ID         string `json:"id"`
		ResourceID string `json:"resourceId"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.ID == "" {
		WriteError(w, http.StatusBadRequest, "required", "Required parameter: id")
		return
	}
	c.mu.Lock()
	ch, ok := c.m[req.ID]
	found := ok && ch.User == g.UserID && ch.ResourceID == req.ResourceID && ch.Live(c.now())
	if found {
		ch.Stopped = true
	}
	c.mu.Unlock()
	if !found {
		WriteError(w, http.StatusNotFound, "notFound", "Channel '"+req.ID+"' not found for project '1093712342424'")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// Notify sends a notification with the given resource state to every live
// channel of key, each with its next message number; extra headers
// (X-Goog-Changed) are added. Copies repeat a notification with the same
// number; Hold queues it for /_sandbox/flush (out of order).
func (c *Channels) Notify(ctx context.Context, key, state string, extra http.Header, opt sandbox.DeliveryOptions) []Notification {
	type pending struct {
		ch  *Channel
		del sandbox.Delivery
		n   Notification
	}
	c.mu.Lock()
	now := c.now()
	var todo []pending
	for _, ch := range c.m {
		if ch.Key != key || !ch.Live(now) {
			continue
		}
		ch.Messages++
		todo = append(todo, pending{ch: ch, del: c.deliveryLocked(ch, state, ch.Messages, extra),
			n: Notification{ChannelID: ch.ID, MessageNumber: ch.Messages, State: state, Held: opt.Hold}})
	}
	c.mu.Unlock()
	slices.SortFunc(todo, func(a, b pending) int { return strings.Compare(a.ch.ID, b.ch.ID) })
	out := make([]Notification, 0, len(todo))
	for _, p := range todo {
		p.n.Results = Results(c.send(ctx, p.ch.Address, p.del, opt))
		out = append(out, p.n)
	}
	return out
}

// send delivers through the shared deliverer. Google posts to each channel's
// address; the deliverer has a single target, so unless one was pinned with
// POST /_sandbox/webhook-target, the target follows the channel's address.
func (c *Channels) send(ctx context.Context, address string, del sandbox.Delivery, opt sandbox.DeliveryOptions) []sandbox.Result {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	d := c.Deliverer
	if cur := d.Target(); cur == "" || cur == c.autoTarget {
		d.SetTarget(address)
		c.autoTarget = address
	}
	return d.Send(ctx, del, opt)
}

// Wait waits for the "sync" notifications still being sent in the
// background.
func (c *Channels) Wait() { c.pending.Wait() }

// List returns copies of every channel ever registered, live or not, by id.
func (c *Channels) List() []Channel {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Channel, 0, len(c.m))
	for _, ch := range c.m {
		out = append(out, *ch)
	}
	slices.SortFunc(out, func(a, b Channel) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// deliveryLocked builds a push notification: headers only, no body.
func (c *Channels) deliveryLocked(ch *Channel, state string, number int64, extra http.Header) sandbox.Delivery {
	h := http.Header{}
	h.Set("User-Agent", GoogleUserAgent)
	h.Set("X-Goog-Channel-ID", ch.ID)
	if ch.Token != "" {
		h.Set("X-Goog-Channel-Token", ch.Token)
	}
	h.Set("X-Goog-Channel-Expiration", ch.Expiration.UTC().Format(http.TimeFormat))
	h.Set("X-Goog-Resource-ID", ch.ResourceID)
	h.Set("X-Goog-Resource-URI", ch.ResourceURI)
	h.Set("X-Goog-Resource-State", state)
	h.Set("X-Goog-Message-Number", strconv.FormatInt(number, 10))
	for k, vs := range extra {
		h[k] = append([]string(nil), vs...)
	}
	return sandbox.Delivery{Header: h}
}

// RequestBase is the scheme and host a request reached the sandbox at.
func RequestBase(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// DeliveryOptions reads a control request's ?copies=N (1 to 20: a
// provider's retry racing its first attempt) and ?hold=true (queued for
// POST /_sandbox/flush, out of order).
func DeliveryOptions(r *http.Request) (sandbox.DeliveryOptions, error) {
	var opt sandbox.DeliveryOptions
	q := r.URL.Query()
	if v := q.Get("copies"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 20 {
			return opt, fmt.Errorf("copies must be 1 to 20")
		}
		opt.Copies = n
	}
	if v := q.Get("hold"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return opt, fmt.Errorf("hold must be true or false")
		}
		opt.Hold = b
	}
	return opt, nil
}
