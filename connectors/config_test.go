package connectors

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDecodeConfig(t *testing.T) {
	type cfg struct {
		Channels []string `json:"channels"`
	}
	for _, raw := range []string{"", "  ", "null", " null "} {
		got := cfg{Channels: []string{"default"}}
		require.NoError(t, DecodeConfig(json.RawMessage(raw), &got, "{}"), "%q", raw)
		require.Equal(t, []string{"default"}, got.Channels, "%q leaves the defaults", raw)
	}
	var got cfg
	require.NoError(t, DecodeConfig(json.RawMessage(`{"channels": ["C1"]}`), &got, "{}"))
	require.Equal(t, []string{"C1"}, got.Channels)

	for raw, want := range map[string]string{
		`{"chanels": ["C1"]}`:   `unknown field "chanels"`,
		`{"channels": "C1"}`:    "cannot unmarshal string",
		`{"channels": [}`:       "invalid character",
		`{"channels": []} {"x"`: "unexpected data after the config object",
		`["C1"]`:                "cannot unmarshal array",
	} {
		err := DecodeConfig(json.RawMessage(raw), &cfg{}, `{"channels": [...]}`)
		var ce *ConfigError
		require.True(t, errors.As(err, &ce), "%s: %v", raw, err)
		require.ErrorIs(t, err, ErrInvalidConfig)
		require.Contains(t, ce.Fields["config"], `must be {"channels": [...]}: `, raw)
		require.Contains(t, ce.Fields["config"], want, raw)
	}
}

func TestAccessRequestRequested(t *testing.T) {
	require.True(t, AccessRequest{}.Requested("a"), "no Only: every resource")
	r := AccessRequest{Only: []string{"a", "b"}}
	require.True(t, r.Requested("b"))
	require.False(t, r.Requested("c"))
}
