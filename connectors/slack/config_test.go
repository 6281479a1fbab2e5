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

func TestStreamsRouteKeysAndFilter(t *testing.T) {
	c := &Connector{}
	selected := connectors.Connection{Account: connectors.Account{ID: "T024BE7LD"}, Config: json.RawMessage(`{"channels":["C05GENERAL","C05PRESS01"]}`)}
	all := connectors.Connection{Account: connectors.Account{ID: "T024BE7LD"}, Config: json.RawMessage(`{"channels":[]}`)}

	ss, err := c.Streams(selected)
	require.NoError(t, err)
	require.Equal(t, []string{"history:C05GENERAL", "history:C05PRESS01"}, ss)
	ss, err = c.Streams(all)
	require.NoError(t, err)
	require.Equal(t, []string{"channels"}, ss)
	_, err = c.Streams(connectors.Connection{Config: json.RawMessage(`{"channels":`)})
	require.ErrorIs(t, err, connectors.ErrInvalidConfig)

	keys, err := c.RouteKeys(selected)
	require.NoError(t, err)
	require.Equal(t, []string{"team:T024BE7LD"}, keys)
	_, err = c.RouteKeys(connectors.Connection{})
	require.ErrorIs(t, err, connectors.ErrInvalidConfig)

	in := func(ch string) connectors.Signal {
		return connectors.Signal{Payload: connectors.Payload{Attributes: map[string]any{"channel_id": ch}}}
	}
	require.True(t, c.Wants(selected, in("C05GENERAL")))
	require.False(t, c.Wants(selected, in("C05RANDOM1")), "channels not selected are dropped")
	require.False(t, c.Wants(selected, connectors.Signal{}), "a Signal without channel is dropped when channels are selected")
	require.True(t, c.Wants(all, in("C05RANDOM1")), "no selection: every channel the bot is in")
	require.False(t, c.Wants(connectors.Connection{Config: json.RawMessage(`{`)}, in("C05GENERAL")), "unreadable config fails closed")
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
	require.NotNil(t, c.slowLimiter("T1"))
	require.Same(t, c.slowLimiter("T1"), c.slowLimiter("T1"), "one limiter per workspace, shared")
	require.NotSame(t, c.slowLimiter("T1"), c.slowLimiter("T2"))

	for _, bad := range []map[string]string{{"PAGE_SIZE": "0"}, {"PAGE_SIZE": "1000"}, {"PAGE_SIZE": "ten"}, {"BACKFILL_DAYS": "-1"}, {"NON_MARKETPLACE": "yes please"}} {
		_, err := build(bad)
		require.Error(t, err, "%v", bad)
	}
}
