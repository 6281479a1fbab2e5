package githubsandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/poblysh/poblysh/sandbox"
)

// Name is the provider the fake plays (the connector's Spec.Name).
const Name = "github"

// FaultGitHubApp plays a GitHub App instead of an OAuth App: user tokens
// (ghu_) that expire, 8 h unless Options.AccessTTL says otherwise, with
// rotating ghr_ refresh tokens and app-level webhook deliveries.
const FaultGitHubApp = "github-app"

// FaultSmallBudget grants 100 calls a minute instead of 5,000 an hour:
// GitHub's primary rate limit scaled down, with the same headers and the
// same 403 once the budget is spent.
const FaultSmallBudget = "small-budget"

// FaultCursorPages links every page of a list past the first by an opaque
// after= cursor and refuses page numbers past 1 (Options.CursorPagesAfter
// 1), as GitHub serves large lists.
const FaultCursorPages = "cursor-pages"

func init() { sandbox.Register(Name, newFake) }

// newFake maps the uniform sandbox options onto this fake's own.
func newFake(o sandbox.Options) (sandbox.Fake, error) {
	if err := sandbox.CheckFaults(Name, o.Faults, FaultGitHubApp, FaultSmallBudget, FaultCursorPages); err != nil {
		return nil, err
	}
	ttl := o.AccessTTL
	if ttl == 0 && slices.Contains(o.Faults, FaultGitHubApp) {
		ttl = 8 * time.Hour
	}
	opts := Options{
		ClientID: o.ClientID, ClientSecret: o.ClientSecret, WebhookSecret: o.WebhookSecret,
		AccessTTL: ttl, Seed: o.Seed, Clock: o.Now,
	}
	if slices.Contains(o.Faults, FaultSmallBudget) {
		opts.RateLimit, opts.RateWindow = 100, time.Minute
	}
	if slices.Contains(o.Faults, FaultCursorPages) {
		opts.CursorPagesAfter = 1
	}
	s := New(opts)
	s.Deliverer.SetTarget(sandbox.WebhookURL(o.DeliverTo, Name))
	return s, nil
}

// Demo implements sandbox.Demoer: connect the seeded repository, then open
// a pull request on it (its pull_request webhook reaches the service
// through the repository hook the connection registered).
func (s *Server) Demo() sandbox.Demo {
	return sandbox.Demo{
		Config: map[string]any{"repos": []string{SeedRepo}},
		Activity: func(ctx context.Context, c *http.Client, baseURL, marker string) (sandbox.DemoActivity, error) {
			var pr struct {
				PullRequest struct {
					Number int `json:"number"`
				} `json:"pull_request"`
				Deliveries []json.RawMessage `json:"deliveries"`
			}
			err := sandbox.ControlJSON(ctx, c, http.MethodPost, baseURL, "/_sandbox/github/repos/"+SeedRepo+"/pulls", map[string]any{
				"title": "Launch notes for the press kit (" + marker + ")", "head": marker, "base": "main", "user": "octocat",
				"body": "Opened by make demo.",
			}, &pr)
			if err != nil {
				return sandbox.DemoActivity{}, err
			}
			return sandbox.DemoActivity{Kind: "pull_request.opened", Description: fmt.Sprintf(
				"opened pull request #%d on %s (%d webhook deliveries)", pr.PullRequest.Number, SeedRepo, len(pr.Deliveries))}, nil
		},
	}
}
