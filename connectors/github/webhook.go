package github

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/url"
	"strconv"
	"strings"

	gh "github.com/google/go-github/v89/github"

	"github.com/poblysh/poblysh/connectors"
)

// Hook target types (X-GitHub-Hook-Installation-Target-Type).
const (
	targetRepository = "repository"  // a repository hook the service created
	targetApp        = "integration" // the GitHub App's webhook
)

// DeliveryChannel names the repository hook a delivery claims to come from
// (X-GitHub-Hook-ID of a repository hook), so the engine can load that
// hook's own secret before VerifyWebhook.
func (c *Connector) DeliveryChannel(req *connectors.WebhookRequest) (string, bool) {
	if req.Header.Get("X-GitHub-Hook-Installation-Target-Type") != targetRepository {
		return "", false
	}
	id := req.Header.Get("X-GitHub-Hook-ID")
	if _, err := strconv.ParseInt(id, 10, 64); err != nil {
		return "", false
	}
	return id, true
}

// VerifyWebhook checks X-Hub-Signature-256 ("sha256=" + hex HMAC-SHA256 of
// the raw body) in constant time, before anything is parsed, with the
// secret that may speak for the delivery: a repository hook's own secret
// (req.ChannelSecret, loaded by the engine from the hook the service
// created), or, for app-level deliveries of a GitHub App, the app's
// webhook secret (POBLYSH_GITHUB_WEBHOOK_SECRET). A shared secret would
// only prove that GitHub sent a delivery, not for whom. Anything else,
// and a missing secret, is rejected. The legacy SHA-1 X-Hub-Signature is
// not accepted.
func (c *Connector) VerifyWebhook(req *connectors.WebhookRequest) error {
	var secret string
	switch typ := req.Header.Get("X-GitHub-Hook-Installation-Target-Type"); typ {
	case targetRepository:
		if req.ChannelSecret == "" {
			return fmt.Errorf("github: webhook: %w: repository hook %q was not created by this service", connectors.ErrUnauthorized, req.Header.Get("X-GitHub-Hook-ID"))
		}
		secret = req.ChannelSecret
	case targetApp:
		if c.cfg.WebhookSecret == "" {
			return fmt.Errorf("github: webhook: %w: app delivery, but POBLYSH_GITHUB_WEBHOOK_SECRET is not set", connectors.ErrUnauthorized)
		}
		secret = c.cfg.WebhookSecret
	default:
		return fmt.Errorf("github: webhook: %w: deliveries of %q hooks are not accepted", connectors.ErrUnauthorized, typ)
	}
	sig, ok := strings.CutPrefix(req.Header.Get("X-Hub-Signature-256"), "sha256=")
	if !ok {
		return fmt.Errorf("github: webhook: %w: missing X-Hub-Signature-256", connectors.ErrUnauthorized)
	}
	got, err := hex.DecodeString(sig)
	if err != nil || len(got) != sha256.Size {
		return fmt.Errorf("github: webhook: %w: malformed X-Hub-Signature-256", connectors.ErrUnauthorized)
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(req.Body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return fmt.Errorf("github: webhook: %w: signature does not match", connectors.ErrUnauthorized)
	}
	return nil
}

// errMalformed marks deliveries that verify but cannot be read.
var errMalformed = errors.New("github: malformed webhook delivery")

// ParseWebhook turns a verified delivery into Signals: push, pull_request
// and release events as the normalizers describe; ping and every other
// event are ignored (no Signals, no notify). DeliveryID is X-GitHub-Delivery
// (stable across redeliveries); Event is X-GitHub-Event plus the action
// ("pull_request.closed"); RouteKeys is hook:<X-GitHub-Hook-ID> for a
// repository hook's deliveries and repo:<repository id> for app-level ones.
// Hooks configured with content type form (payload=<json>) are read too.
func (c *Connector) ParseWebhook(req *connectors.WebhookRequest) (*connectors.WebhookDelivery, error) {
	id, event := req.Header.Get("X-GitHub-Delivery"), req.Header.Get("X-GitHub-Event")
	if id == "" || event == "" {
		return nil, fmt.Errorf("%w: missing X-GitHub-Delivery or X-GitHub-Event", errMalformed)
	}
	payload, err := webhookPayload(req)
	if err != nil {
		return nil, err
	}
	decode := func(v any) error {
		if err := json.Unmarshal(payload, v); err != nil {
			return fmt.Errorf("%w: %s %s: %v", errMalformed, event, id, err)
		}
		return nil
	}
	// The events that carry Signals are decoded once, into go-github's
	// types, which also give the action and the repository; any other
	// event only into those two (a push body is ~8 KB, and each decode
	// scans all of it).
	var action string
	var repoID int64
	var signals []connectors.Signal
	switch event {
	case "push":
		var ev gh.PushEvent
		if err := decode(&ev); err != nil {
			return nil, err
		}
		action, repoID = ev.GetAction(), ev.GetRepo().GetID()
		if s, ok := pushSignal(&ev, payload, req.Now); ok {
			signals = []connectors.Signal{s}
		}
	case "pull_request":
		var ev gh.PullRequestEvent
		if err := decode(&ev); err != nil {
			return nil, err
		}
		action, repoID = ev.GetAction(), ev.GetRepo().GetID()
		signals = pullEventSignals(&ev, payload)
	case "release":
		var ev gh.ReleaseEvent
		if err := decode(&ev); err != nil {
			return nil, err
		}
		action, repoID = ev.GetAction(), ev.GetRepo().GetID()
		signals = releaseEventSignals(&ev, payload)
	default:
		var env struct {
			Action     string `json:"action"`
			Repository *struct {
				ID int64 `json:"id"`
			} `json:"repository"`
		}
		if err := decode(&env); err != nil {
			return nil, err
		}
		action = env.Action
		if env.Repository != nil {
			repoID = env.Repository.ID
		}
	}
	d := &connectors.WebhookDelivery{DeliveryID: id, Event: event, Signals: signals}
	if action != "" {
		d.Event += "." + action
	}
	switch {
	case req.Header.Get("X-GitHub-Hook-Installation-Target-Type") == targetRepository:
		d.RouteKeys = []string{hookRouteKey(req.Header.Get("X-GitHub-Hook-ID"))}
	case repoID != 0:
		d.RouteKeys = []string{repoRouteKey(repoID)}
	}
	return d, nil
}

// webhookPayload returns the JSON payload: the body, or the payload field
// of a form-encoded delivery.
func webhookPayload(req *connectors.WebhookRequest) ([]byte, error) {
	ct, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type"))
	if ct != "application/x-www-form-urlencoded" {
		return req.Body, nil
	}
	form, err := url.ParseQuery(string(req.Body))
	if err != nil || form.Get("payload") == "" {
		return nil, fmt.Errorf("%w: form delivery without a payload field", errMalformed)
	}
	return []byte(form.Get("payload")), nil
}
