package jira

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
)

func TestValidateConfig(t *testing.T) {
	c := testConnector(t, nil)
	out, err := c.ValidateConfig(json.RawMessage(`{"projects": [" lpr ", "MKT", "LPR"], "site": "ACME-PR.atlassian.net/jira/", "backfill_days": 30}`))
	require.NoError(t, err)
	require.JSONEq(t, `{"site":"https://acme-pr.atlassian.net","projects":["LPR","MKT"],"backfill_days":30}`, string(out))
	out, err = c.ValidateConfig(json.RawMessage(`{"projects": ["OPS"], "site": "A7F3C1D2-5B64-4E0A-9C1E-2F8D4B6A0002"}`))
	require.NoError(t, err)
	require.JSONEq(t, `{"site":"a7f3c1d2-5b64-4e0a-9c1e-2f8d4b6a0002","projects":["OPS"]}`, string(out))
	for name, tc := range map[string]struct{ in, field string }{
		"no projects":     {`{}`, "projects"},
		"empty projects":  {`{"projects": []}`, "projects"},
		"bad key":         {`{"projects": ["1AB"]}`, "projects[0]"},
		"not a site":      {`{"projects": ["A"], "site": "ftp://x"}`, "site"},
		"site not string": {`{"projects": ["A"], "site": 3}`, "site"},
		"days":            {`{"projects": ["A"], "backfill_days": 0}`, "backfill_days"},
		"unknown field":   {`{"projects": ["A"], "jql": "x"}`, "jql"},
		"not an object":   {`[]`, "config"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := c.ValidateConfig(json.RawMessage(tc.in))
			var ce *connectors.ConfigError
			require.ErrorAs(t, err, &ce)
			require.Contains(t, ce.Fields, tc.field)
		})
	}
}
