package jirasandbox

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/poblysh/poblysh/sandbox"
)

// Demo is Jira's part in make demo: the first site's Launch PR project; the
// activity creates an issue there, which Jira delivers to the project's
// dynamic webhook as jira:issue_created.
func (s *Server) Demo() sandbox.Demo {
	return sandbox.Demo{
		Config: map[string]any{"site": SiteURL, "projects": []string{ProjectLPR}},
		Activity: func(ctx context.Context, c *http.Client, baseURL, marker string) (sandbox.DemoActivity, error) {
			var ch Change
			err := sandbox.ControlJSON(ctx, c, http.MethodPost, baseURL, "/_sandbox/jira/sites/"+SiteID+"/issues", map[string]any{
				"project": ProjectLPR, "summary": "Press kit for the launch (" + marker + ")", "type": "Task", "user": DefaultUser,
			}, &ch)
			if err != nil {
				return sandbox.DemoActivity{}, err
			}
			return sandbox.DemoActivity{Kind: "issue.created", Description: fmt.Sprintf(
				"created issue %s in project %s (%d webhook delivery(ies))", ch.Key, ProjectLPR, len(ch.Deliveries))}, nil
		},
	}
}

// SetWebhookTTL changes the lifetime of dynamic webhooks registered or
// refreshed from now on (tests shorten it to see refreshes).
func (s *Server) SetWebhookTTL(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opts.WebhookTTL = d
}
