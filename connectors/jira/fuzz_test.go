package jira_test

import (
	"testing"

	"github.com/poblysh/poblysh/connectors/connectortest"
)

// Seeds: the signed deliveries, config and first-page cursors of the
// conformance suite, plus any regression case under testdata/fuzz.

func FuzzWebhook(f *testing.F) { connectortest.FuzzWebhook(f, conformanceEnv(f, webhookCases(f))) }

func FuzzCursor(f *testing.F) { connectortest.FuzzCursor(f, conformanceEnv(f, webhookCases(f))) }

func FuzzConfig(f *testing.F) {
	connectortest.FuzzConfig(f, conformanceEnv(f, webhookCases(f)),
		`{"projects":["LPR"]}`, `{"projects":["lpr","LPR"],"backfill_days":-1}`, `{"site":"x.atlassian.net","projects":[]}`, `{"backfill_days":100000}`)
}
