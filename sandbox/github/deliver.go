package githubsandbox

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/poblysh/poblysh/sandbox"
)

// ErrNotFound is returned by activity methods for an unknown repository,
// pull request, release, hook or branch.
var ErrNotFound = errors.New("not found")

// Event is one webhook event the sandbox emits: its X-GitHub-Event name,
// the repository it happened in (lowercase full name) and its payload.
type Event struct {
	Name    string         `json:"event"`
	Repo    string         `json:"repository,omitempty"`
	Payload map[string]any `json:"payload"`
}

// Action is the payload's action ("" for push and ping).
func (e Event) Action() string {
	a, _ := e.Payload["action"].(string)
	return a
}

// DeliveryResult is what happened to one event sent to one target.
type DeliveryResult struct {
	Event      string     `json:"event"`
	Action     string     `json:"action,omitempty"`
	DeliveryID string     `json:"delivery_id"`
	HookID     int64      `json:"hook_id"`
	URL        string     `json:"url"`
	Held       bool       `json:"held,omitempty"`
	Responses  []Response `json:"responses,omitempty"`
}

// Response is the answer to one copy of a delivery.
type Response struct {
	Status int    `json:"status,omitempty"`
	Body   string `json:"body,omitempty"`
	Error  string `json:"error,omitempty"`
}

// hookshotID is the build id in the User-Agent, as GitHub sends it.
const hookshotID = "044aadd"

// Sign returns the X-Hub-Signature-256 and X-Hub-Signature values of body
// under secret: "sha256=" and "sha1=" followed by the hex HMAC.
func Sign(body []byte, secret string) (sha256Sig, sha1Sig string) {
	m256 := hmac.New(sha256.New, []byte(secret))
	m256.Write(body)
	m1 := hmac.New(sha1.New, []byte(secret))
	m1.Write(body)
	return "sha256=" + hex.EncodeToString(m256.Sum(nil)), "sha1=" + hex.EncodeToString(m1.Sum(nil))
}

// build encodes and signs one delivery of the event guid (its
// X-GitHub-Delivery). contentType "form" sends payload=<url-encoded JSON>,
// as GitHub does for form hooks; an empty secret sends no signature headers.
func build(guid string, ev Event, payload map[string]any, secret, contentType string, hookID int64, targetType string, targetID int64) sandbox.Delivery {
	raw, err := json.Marshal(payload)
	if err != nil {
		panic("githubsandbox: payload does not encode: " + err.Error())
	}
	body, ctype := raw, "application/json"
	if contentType == "form" {
		body, ctype = []byte("payload="+url.QueryEscape(string(raw))), "application/x-www-form-urlencoded"
	}
	h := http.Header{}
	h.Set("Accept", "*/*")
	h.Set("Content-Type", ctype)
	h.Set("User-Agent", "GitHub-Hookshot/"+hookshotID)
	h.Set("X-GitHub-Delivery", guid)
	h.Set("X-GitHub-Event", ev.Name)
	h.Set("X-GitHub-Hook-ID", strconv.FormatInt(hookID, 10))
	h.Set("X-GitHub-Hook-Installation-Target-Type", targetType)
	h.Set("X-GitHub-Hook-Installation-Target-ID", strconv.FormatInt(targetID, 10))
	if secret != "" {
		s256, s1 := Sign(body, secret)
		h.Set("X-Hub-Signature-256", s256)
		h.Set("X-Hub-Signature", s1)
	}
	return sandbox.Delivery{Header: h, Body: body}
}

// AppDelivery builds ev as an app-level (GitHub App) delivery under a GUID
// of its own: the payload gains an installation, and the body is signed
// with Options.WebhookSecret.
func (s *Server) AppDelivery(ev Event) sandbox.Delivery {
	return s.appDelivery(uuid.NewString(), ev)
}

func (s *Server) appDelivery(guid string, ev Event) sandbox.Delivery {
	p := maps.Clone(ev.Payload)
	if _, ok := p["installation"]; !ok { // installation events carry the whole installation
		p["installation"] = map[string]any{"id": AppInstallationID, "node_id": nodeID("Installation", AppInstallationID)}
	}
	return build(guid, ev, p, s.opts.WebhookSecret, "json", AppHookID, "integration", AppID)
}

// HookDelivery builds ev as the repository hook hookID would receive it,
// under a GUID of its own, signed with that hook's secret.
func (s *Server) HookDelivery(ev Event, hookID int64) (sandbox.Delivery, error) {
	s.mu.Lock()
	rp := s.repos[ev.Repo]
	var h *hook
	if rp != nil {
		h = rp.hook(hookID)
	}
	s.mu.Unlock()
	if h == nil {
		return sandbox.Delivery{}, fmt.Errorf("hook %d on %s: %w", hookID, ev.Repo, ErrNotFound)
	}
	return build(uuid.NewString(), ev, ev.Payload, h.Secret, h.ContentType, h.ID, "repository", rp.ID), nil
}

// Emit delivers ev to every active hook of its repository subscribed to the
// event, each signed with its hook's secret; and, when the sandbox plays a
// GitHub App (Options.AccessTTL > 0) installed on the repository, to the
// Deliverer target as an app-level delivery signed with WebhookSecret, as
// GitHub sends both. Installation events (appOnlyEvents) go to the App
// alone. An OAuth App has no app-level webhook: a repository
// without hooks delivers nothing. Every delivery of the event carries the
// same X-GitHub-Delivery, as GitHub's do: the hook-delivery guid is the
// "Unique identifier for the event (shared with all deliveries for all
// webhooks that subscribe to this event)" (REST API, "Get a delivery for a
// repository webhook"); X-GitHub-Hook-ID tells the deliveries apart.
func (s *Server) Emit(ctx context.Context, ev Event, opt sandbox.DeliveryOptions) []DeliveryResult {
	s.mu.Lock()
	var hooks []*hook
	var repoID int64
	// Installation events go to the App alone, whether or not it is still
	// installed on the repository they name (one removed is named so).
	appOnly := appOnlyEvents[ev.Name]
	app := s.opts.AccessTTL > 0 && appOnly
	if rp := s.repos[ev.Repo]; rp != nil && !appOnly {
		repoID = rp.ID
		app = s.opts.AccessTTL > 0 && rp.AppInstalled
		for _, h := range rp.hooks {
			if h.wants(ev.Name) {
				hooks = append(hooks, h)
			}
		}
	}
	s.mu.Unlock()
	guid := uuid.NewString()
	var out []DeliveryResult
	for _, h := range hooks {
		del := build(guid, ev, ev.Payload, h.Secret, h.ContentType, h.ID, "repository", repoID)
		res := h.deliverer.Send(ctx, del, opt)
		out = append(out, result(ev, del, h.ID, h.deliverer.Target(), opt.Hold, res))
	}
	if app && s.Deliverer.Target() != "" {
		del := s.appDelivery(guid, ev)
		res := s.Deliverer.Send(ctx, del, opt)
		out = append(out, result(ev, del, AppHookID, s.Deliverer.Target(), opt.Hold, res))
	}
	return out
}

// appOnlyEvents are the events GitHub sends a GitHub App alone, never a
// repository hook (their availability is "GitHub Apps" only).
var appOnlyEvents = map[string]bool{"installation": true, "installation_repositories": true, "github_app_authorization": true}

// emitAll delivers each event of an activity (Emit).
func (s *Server) emitAll(ctx context.Context, act *Activity, opt sandbox.DeliveryOptions) []DeliveryResult {
	out := []DeliveryResult{}
	for _, ev := range act.Events {
		out = append(out, s.Emit(ctx, ev, opt)...)
	}
	return out
}

// deliverAsync sends ev to one hook in the background (pings on creation:
// an event of that hook alone, with a GUID of its own).
func (s *Server) deliverAsync(h *hook, ev Event) {
	s.mu.Lock()
	rp := s.repos[ev.Repo]
	s.mu.Unlock()
	if rp == nil {
		return
	}
	s.sendAsync(h, build(uuid.NewString(), ev, ev.Payload, h.Secret, h.ContentType, h.ID, "repository", rp.ID))
}

// sendAsync sends del to hook h in the background (Wait waits for it).
func (s *Server) sendAsync(h *hook, del sandbox.Delivery) {
	s.pending.Add(1)
	go func() {
		defer s.pending.Done()
		ctx, cancel := background()
		defer cancel()
		h.deliverer.Send(ctx, del, sandbox.DeliveryOptions{})
	}()
}

func result(ev Event, del sandbox.Delivery, hookID int64, target string, held bool, res []sandbox.Result) DeliveryResult {
	out := DeliveryResult{
		Event: ev.Name, Action: ev.Action(), DeliveryID: del.Header.Get("X-GitHub-Delivery"),
		HookID: hookID, URL: target, Held: held,
	}
	for _, r := range res {
		resp := Response{Status: r.Status, Body: strings.TrimSpace(r.Body)}
		if r.Err != nil {
			resp.Error = r.Err.Error()
		}
		out.Responses = append(out.Responses, resp)
	}
	return out
}
