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
// and release events as the normalizers describe. Events after which a
// connection may no longer read a repository (accessActions) store nothing
// and nudge the connections they route to (Notify); a repository hook's
// meta deleted about itself (signed with its secret, which the service
// still holds) says the hook is gone (ChannelGone), and the engine
// registers it again; ping and every other event are ignored (no Signals,
// no notify). DeliveryID is deliveryID's;
// Event is X-GitHub-Event plus the action
// ("pull_request.closed"); RouteKeys is hook:<X-GitHub-Hook-ID> for a
// repository hook's deliveries and, for app-level ones, repo:<repository
// id>, or what accessRouteKeys names. Hooks configured with content type
// form (payload=<json>) are read too.
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
	var access, gone bool
	var accessKeys []string
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
		var env envelope
		if err := decode(&env); err != nil {
			return nil, err
		}
		action = env.Action
		if env.Repository != nil {
			repoID = env.Repository.ID
		}
		access = accessActions[event][action]
		if access {
			accessKeys = accessRouteKeys(event, &env)
		}
		gone = event == "meta" && action == "deleted" && env.HookID != 0 &&
			req.Header.Get("X-GitHub-Hook-Installation-Target-Type") == targetRepository &&
			req.Header.Get("X-GitHub-Hook-ID") == strconv.FormatInt(env.HookID, 10)
	}
	d := &connectors.WebhookDelivery{DeliveryID: deliveryID(req, id), Event: event, Signals: signals, Notify: access, ChannelGone: gone}
	if action != "" {
		d.Event += "." + action
	}
	switch {
	case req.Header.Get("X-GitHub-Hook-Installation-Target-Type") == targetRepository:
		// A hook's delivery speaks for the connection that created the
		// hook only, an access event too: it nudges that one.
		d.RouteKeys = []string{hookRouteKey(req.Header.Get("X-GitHub-Hook-ID"))}
	case access:
		d.RouteKeys = accessKeys
	case repoID != 0:
		d.RouteKeys = []string{repoRouteKey(repoID)}
	}
	return d, nil
}

// deliveryID is the idempotency key of a delivery: X-GitHub-Hook-ID, "/"
// and X-GitHub-Delivery. The GUID names the event, not the delivery: it
// is "Unique identifier for the event (shared with all deliveries for all
// webhooks that subscribe to this event)" (REST API, "Get a delivery for a
// repository webhook"), so two connections' hooks on one repository, and
// the GitHub App's webhook, receive one event under one GUID, and keyed by
// it alone all but the first would be recorded as duplicates and their
// Signals lost. A redelivery keeps both headers ("If you request a
// redelivery, the X-GitHub-Delivery header will be the same as in the
// original delivery", "Best practices for using webhooks"), so it is still
// a duplicate. A delivery without a hook id (GitHub sends one with every
// delivery; a repository hook's cannot be verified without it) is keyed by
// its GUID.
func deliveryID(req *connectors.WebhookRequest, guid string) string {
	if hook := req.Header.Get("X-GitHub-Hook-ID"); hook != "" {
		return hook + "/" + guid
	}
	return guid
}

// envelope is what ParseWebhook reads of an event without Signals: its
// action and repository, and what the access events name besides.
type envelope struct {
	Action     string `json:"action"`
	Repository *ghID  `json:"repository"`
	Member     *ghID  `json:"member"`               // membership: the user removed from a team
	Sender     *ghID  `json:"sender"`               // github_app_authorization: the user who revoked it
	Repos      []ghID `json:"repositories"`         // installation: the repositories it reached
	Removed    []ghID `json:"repositories_removed"` // installation_repositories
	Membership *struct {
		User *ghID `json:"user"`
	} `json:"membership"` // organization: the member removed
	HookID int64 `json:"hook_id"` // meta: the hook the event is about
}

// ghID is an object of a payload (user, repository) read for its id only.
type ghID struct {
	ID int64 `json:"id"`
}

// accessActions are the events (and their actions) after which a
// connection's proof of a repository may no longer hold
// (https://docs.github.com/en/webhooks/webhook-events-and-payloads): a
// collaborator was removed (member), a team lost the repository (team) or
// a user a team or the organization (membership, organization), the
// repository was made private or transferred (repository; an archived one
// stays readable; deleted is listed too, but GitHub never sends it where
// the service listens: "GitHub Apps and repository webhooks will not
// receive this event", so a deleted repository is noticed by its next
// sync's 404 alone), the app lost repositories or its
// installation (installation_repositories, installation), or a user
// revoked the app (github_app_authorization, sent to every GitHub App).
var accessActions = map[string]map[string]bool{
	"member":                    {"removed": true},
	"team":                      {"removed_from_repository": true},
	"membership":                {"removed": true},
	"organization":              {"member_removed": true},
	"repository":                {"privatized": true, "transferred": true, "deleted": true},
	"installation_repositories": {"removed": true},
	"installation":              {"deleted": true, "suspend": true},
	"github_app_authorization":  {"revoked": true},
}

// accessRouteKeys names the connections whose proofs an access event may
// have ended. A configured repository is routed by its proof (repo:<id>),
// and the proof was a check at one moment: until a sync of the repository
// got its 404, app-level deliveries of the repository (those of another
// tenant's installation on it too) kept reaching a connection whose user
// had lost it. So the event nudges, without Signals, every connection
// routing the repositories it names, or, for one naming a user only (a
// membership of an organization or team, a revoked authorization), every
// connection of that user (user:<id>, RouteKeys). Each syncs at once: a
// repository it can no longer read is marked lost and its routes dropped
// (docs/providers/github.md, "Access, routing and webhooks"), a revoked
// token makes the connection needs_reauth, and what it still reads is
// proved again. The event alone decides nothing: the sync's own calls do.
func accessRouteKeys(event string, env *envelope) []string {
	var users []*ghID
	var repos []ghID
	switch event {
	case "installation":
		repos = env.Repos
	case "installation_repositories":
		repos = env.Removed
	case "membership":
		users = append(users, env.Member)
	case "organization":
		if env.Membership != nil {
			users = append(users, env.Membership.User)
		}
	case "github_app_authorization":
		users = append(users, env.Sender)
	default:
		if env.Repository != nil {
			repos = append(repos, *env.Repository)
		}
	}
	var keys []string
	for _, r := range repos {
		if r.ID != 0 {
			keys = append(keys, repoRouteKey(r.ID))
		}
	}
	for _, u := range users {
		if u != nil && u.ID != 0 {
			keys = append(keys, userRouteKey(strconv.FormatInt(u.ID, 10)))
		}
	}
	return keys
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
