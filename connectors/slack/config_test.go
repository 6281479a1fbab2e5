package slack

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
)

func TestValidateConfig(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		want   string
		fields []string // ConfigError fields when invalid
	}{
		{"absent", ``, `{"channels":[]}`, nil},
		{"null", `null`, `{"channels":[]}`, nil},
		{"empty object", `{}`, `{"channels":[]}`, nil},
		{"normalized", `{"channels":[" C05PRESS01 ","C05GENERAL","C05PRESS01","G0LEGACY1"]}`, `{"channels":["C05GENERAL","C05PRESS01","G0LEGACY1"]}`, nil},
		{"channel name instead of id", `{"channels":["#general","C05GENERAL"]}`, ``, []string{"channels[0]"}},
		{"DM not supported", `{"channels":["D0PNCRP9N"]}`, ``, []string{"channels[0]"}},
		{"lowercase id", `{"channels":["c05general"]}`, ``, []string{"channels[0]"}},
		{"unknown field", `{"channel":["C05GENERAL"]}`, ``, []string{"config"}},
		{"wrong type", `{"channels":"C05GENERAL"}`, ``, []string{"config"}},
		{"thread lookback in days", `{"thread_lookback":" 3d "}`, `{"channels":[],"thread_lookback":"3d"}`, nil},
		{"thread lookback as a duration", `{"thread_lookback":"36h"}`, `{"channels":[],"thread_lookback":"36h"}`, nil},
		{"thread lookback off", `{"thread_lookback":"0"}`, `{"channels":[],"thread_lookback":"0"}`, nil},
		{"thread lookback too long", `{"thread_lookback":"91d"}`, ``, []string{"thread_lookback"}},
		// 106,752 days and up wrap the duration around, back inside 0-90d.
		{"thread lookback wrapping around", `{"thread_lookback":"213504d"}`, ``, []string{"thread_lookback"}},
		{"thread lookback negative", `{"thread_lookback":"-1d"}`, ``, []string{"thread_lookback"}},
		{"thread lookback unreadable", `{"thread_lookback":"a week"}`, ``, []string{"thread_lookback"}},
		{"thread lookback negative", `{"thread_lookback":"-1h"}`, ``, []string{"thread_lookback"}},
	}
	c := &Connector{}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := c.ValidateConfig(json.RawMessage(tc.in))
			if tc.fields == nil {
				require.NoError(t, err)
				require.JSONEq(t, tc.want, string(got))
				return
			}
			require.ErrorIs(t, err, connectors.ErrInvalidConfig)
			var ce *connectors.ConfigError
			require.ErrorAs(t, err, &ce)
			for _, f := range tc.fields {
				require.Contains(t, ce.Fields, f)
			}
			require.Len(t, ce.Fields, len(tc.fields))
		})
	}
}

func TestStreamsAndRouteKeys(t *testing.T) {
	c := &Connector{}
	selected := connectors.Connection{Account: connectors.Account{ID: "T024BE7LD"}, Config: json.RawMessage(`{"channels":["C05GENERAL","C05PRESS01"]}`)}
	all := connectors.Connection{Account: connectors.Account{ID: "T024BE7LD"}, Config: json.RawMessage(`{"channels":[]}`)}
	org := connectors.Account{ID: "E08GLOBEX1", Metadata: map[string]string{"enterprise_id": "E08GLOBEX1", "enterprise_install": "true"}}

	ss, err := c.Streams(selected)
	require.NoError(t, err)
	require.Equal(t, []string{"history:C05GENERAL", "history:C05PRESS01"}, ss)
	ss, err = c.Streams(all)
	require.NoError(t, err)
	require.Equal(t, []string{"channels"}, ss)
	_, err = c.Streams(connectors.Connection{Config: json.RawMessage(`{"channels":`)})
	require.ErrorIs(t, err, connectors.ErrInvalidConfig)

	tests := []struct {
		name string
		conn connectors.Connection
		want []string
	}{
		// Configured channels route by their proofs (ProveAccess), never by
		// the workspace: only the install's own news is static.
		{"configured channels", selected, []string{"app:T024BE7LD"}},
		{"every member channel of a workspace", all, []string{"app:T024BE7LD", "team:T024BE7LD"}},
		{"every member channel of an org-wide install", connectors.Connection{Account: org}, []string{"app:E08GLOBEX1", "enterprise:E08GLOBEX1"}},
		{"configured channels of an org-wide install", connectors.Connection{Account: org, Config: selected.Config}, []string{"app:E08GLOBEX1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			keys, err := c.RouteKeys(tc.conn)
			require.NoError(t, err)
			require.Equal(t, tc.want, keys)
		})
	}
	_, err = c.RouteKeys(connectors.Connection{})
	require.ErrorIs(t, err, connectors.ErrInvalidConfig)
	_, err = c.RouteKeys(connectors.Connection{Account: connectors.Account{ID: "T1"}, Config: json.RawMessage(`{`)})
	require.ErrorIs(t, err, connectors.ErrInvalidConfig, "an unreadable config routes nothing")

	for stream, want := range map[string]string{"history:C05GENERAL": "C05GENERAL", "channels": "channels", "history:nope": "", "pulls:C05GENERAL": ""} {
		ref, ok := c.StreamResource(stream)
		require.Equal(t, want, ref, stream)
		require.Equal(t, want != "", ok, stream)
	}
}

func TestNewSettings(t *testing.T) {
	build := func(s map[string]string) (*Connector, error) {
		c, err := New(connectors.Config{}.WithSettings(s))
		if err != nil {
			return nil, err
		}
		return c.(*Connector), nil
	}
	c, err := build(nil)
	require.NoError(t, err, "no credentials and no settings is fine")
	require.Equal(t, defaultPageSize, c.pageSize)
	require.False(t, c.nonMarketplace)

	c, err = build(map[string]string{"PAGE_SIZE": "50", "BACKFILL_DAYS": "30"})
	require.NoError(t, err)
	require.Equal(t, 50, c.pageSize)
	require.Equal(t, 30, c.backfillDays)

	c, err = build(map[string]string{"NON_MARKETPLACE": "true"})
	require.NoError(t, err)
	require.True(t, c.nonMarketplace)
	require.Equal(t, 15, c.pageSize, "non-Marketplace apps read at most 15 messages per call")

	for _, bad := range []map[string]string{{"PAGE_SIZE": "0"}, {"PAGE_SIZE": "1000"}, {"PAGE_SIZE": "ten"}, {"BACKFILL_DAYS": "-1"}, {"NON_MARKETPLACE": "yes please"}} {
		_, err := build(bad)
		require.Error(t, err, "%v", bad)
	}
}

// POBLYSH_<NAME>_BACKFILL_DAYS is a number of days from 1 to 36500: a
// larger count wrapped the window around (213504 days became 25 minutes).
func TestBackfillDaysAreBounded(t *testing.T) {
	t.Parallel()
	for v, ok := range map[string]bool{"30": true, "36500": true, "0": false, "36501": false, "213504": false, "a month": false} {
		_, err := New(connectors.Config{}.WithSettings(map[string]string{SettingBackfillDays: v}))
		require.Equal(t, ok, err == nil, "%s: %v", v, err)
	}
}
