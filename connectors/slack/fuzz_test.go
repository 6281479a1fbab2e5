package slack

import (
	"testing"

	"github.com/poblysh/poblysh/connectors/connectortest"
)

// Seeds: the signed deliveries, config and first-page cursors of the
// conformance suite, plus any regression case under testdata/fuzz.

func FuzzWebhook(f *testing.F) { connectortest.FuzzWebhook(f, conformanceEnv(f)) }

func FuzzCursor(f *testing.F) { connectortest.FuzzCursor(f, conformanceEnv(f)) }

func FuzzConfig(f *testing.F) {
	connectortest.FuzzConfig(f, conformanceEnv(f),
		`{"channels":["C123"]}`, `{"channels":[]}`, `{"channels":["#general","general"]}`, `{"channels":[1]}`)
}
