package jira_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/connectors/connectortest"
	"github.com/poblysh/poblysh/connectors/jira"
	"github.com/poblysh/poblysh/sandbox"
	jirasandbox "github.com/poblysh/poblysh/sandbox/jira"
)

// Seeded Signal counts of a 90-day backfill (see sandbox/jira/seed.go).
const (
	seedLPR = 71
	seedMKT = 10
)

func TestConformance(t *testing.T) {
	hooks := webhookCases(t)
	connectortest.Run(t, func(t *testing.T) *connectortest.Env {
		env := conformanceEnv(t, hooks)
		env.Examples = jira.CatalogExamples(t)
		return env
	})
}

// conformanceEnv is the connector against a fresh seeded sandbox (the
// fuzz targets share it).
func conformanceEnv(t testing.TB, hooks []connectortest.WebhookCase) *connectortest.Env {
	h := newHarness(t, jirasandbox.Options{PageSize: 3}, `["LPR", "MKT"]`)
	require.Equal(t, seedLPR, h.sb.ExpectedSignals(jirasandbox.SiteID, "LPR", 90), "sandbox seed drifted")
	require.Equal(t, seedMKT, h.sb.ExpectedSignals(jirasandbox.SiteID, "MKT", 90), "sandbox seed drifted")
	return &connectortest.Env{
		Provider:    h.prov,
		Connection:  h.conn,
		AccessToken: h.tok,
		Expected:    map[string]int{"issues:LPR": seedLPR, "issues:MKT": seedMKT},
		InjectFault: h.sb.Faults.Add,
		ErrorCases: append(connectortest.DefaultErrorCases(),
			connectortest.ErrorCase{Name: "429 hourly quota with Retry-After", Fault: jirasandbox.QuotaFault(time.Now(), 40*time.Second, true),
				Want: connectors.ErrRateLimited, WantRetryAfter: 40 * time.Second},
			connectortest.ErrorCase{Name: "429 hourly quota without Retry-After", Fault: jirasandbox.QuotaFault(time.Now(), 40*time.Second, false),
				Want: connectors.ErrRateLimited, WantRetryAfter: 40 * time.Second}, // Beta-RateLimit's t=, later than the minute named
			connectortest.ErrorCase{Name: "429 burst", Fault: jirasandbox.BurstFault(3), Want: connectors.ErrRateLimited, WantRetryAfter: 3 * time.Second},
			connectortest.ErrorCase{Name: "503 with Retry-After", Fault: sandbox.Fault{Status: 503, RetryAfter: 5}, Want: connectors.ErrRateLimited, WantRetryAfter: 5 * time.Second},
			connectortest.ErrorCase{Name: "410", Fault: sandbox.Fault{Status: 410}, Want: connectors.ErrInvalidConfig},
		),
		Webhooks:     hooks,
		WrongSecret:  provider(t, h.sb, h.url, "not the client secret"),
		NoSecret:     provider(t, h.sb, h.url, "-"),
		BodyUnsigned: true,
	}
}

// webhookCases captures real deliveries of the sandbox's dynamic webhooks.
func webhookCases(t testing.TB) []connectortest.WebhookCase {
	h := newHarness(t, jirasandbox.Options{}, `["LPR"]`)
	got, _ := h.capture(t, "LPR")
	ctx := context.Background()
	site := jirasandbox.SiteID
	_, err := h.sb.CreateIssue(ctx, site, jirasandbox.IssueInput{Project: "LPR", Summary: "Interview request from Wired", Description: "*Deadline* Friday"}, noDelivery)
	require.NoError(t, err)
	created := next(t, got)
	_, err = h.sb.Transition(ctx, site, "LPR-1", "In Review", "grace", noDelivery)
	require.NoError(t, err)
	moved := next(t, got)
	_, err = h.sb.Edit(ctx, site, "LPR-2", jirasandbox.EditInput{Summary: "Brief the analysts (Gartner)", Labels: []string{"analysts"}}, noDelivery)
	require.NoError(t, err)
	edited := next(t, got)
	_, err = h.sb.Edit(ctx, site, "LPR-3", jirasandbox.EditInput{Assignee: "linus"}, noDelivery)
	require.NoError(t, err)
	assigned := next(t, got)
	_, err = h.sb.Transition(ctx, site, "LPR-4", "Done", "ada", noDelivery)
	require.NoError(t, err)
	done := next(t, got)
	return []connectortest.WebhookCase{
		{Name: "issue created", Request: created, WantKinds: []string{jira.KindCreated}},
		{Name: "status change", Request: moved, WantKinds: []string{jira.KindStatusChanged}},
		{Name: "summary and labels edited", Request: edited, WantKinds: []string{jira.KindUpdated}},
		{Name: "assigned", Request: assigned, WantKinds: []string{jira.KindUpdated}},
		{Name: "done with a resolution", Request: done, WantKinds: []string{jira.KindStatusChanged, jira.KindUpdated}},
	}
}
