package github

import (
	"testing"

	"github.com/poblysh/poblysh/connectors/connectortest"
)

// Seeds: the signed deliveries, config and first-page cursors of the
// conformance suite, plus the regression cases under testdata/fuzz.

func FuzzWebhook(f *testing.F) { connectortest.FuzzWebhook(f, conformanceEnv(f)) }

func FuzzCursor(f *testing.F) { connectortest.FuzzCursor(f, conformanceEnv(f)) }

func FuzzConfig(f *testing.F) {
	connectortest.FuzzConfig(f, conformanceEnv(f),
		`{"repos":["Octo-Org/Hello-World"]}`, `{"repos":[]}`, `{"repos":["a/b","a/b"]}`, `{"repos":["no-slash"]}`,
		`{"repos":["octo/*"]}`, `{"repos":"octo/hello"}`, `{"repos":["../x"]}`)
}
