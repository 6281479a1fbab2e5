package googlecalendar_test

import (
	"testing"

	"github.com/poblysh/poblysh/connectors/connectortest"
)

// Seeds: the signed deliveries, config and first-page cursors of the
// conformance suite, plus any regression case under testdata/fuzz.

func FuzzWebhook(f *testing.F) { connectortest.FuzzWebhook(f, conformanceEnv(f, pushCases(f))) }

func FuzzCursor(f *testing.F) { connectortest.FuzzCursor(f, conformanceEnv(f, pushCases(f))) }

func FuzzConfig(f *testing.F) {
	connectortest.FuzzConfig(f, conformanceEnv(f, pushCases(f)),
		`{"calendars":["primary"]}`, `{"calendars":[]}`, `{"calendars":["a@group.calendar.google.com","primary","primary"]}`)
}
