package connectors

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestValidateSignalWantsAContextName: the payload core names where a
// happening took place, {"type", "id", "name"} (architecture §6, swagger's
// SignalContext); only the subject's name is optional. A Signal whose
// context has no name fails validation (the conformance suite runs it on
// every Signal of every provider), and the name is always in the JSON.
func TestValidateSignalWantsAContextName(t *testing.T) {
	spec := &Spec{Name: "slack", Kinds: []string{"message.posted"}}
	s := Signal{Kind: "message.posted", OccurredAt: time.Date(2026, 1, 1, 13, 0, 0, 0, time.UTC), DedupeKey: "msg:C1:1.2",
		Payload: Payload{Title: "hi", Subject: Ref{Type: "message", ID: "1.2"}, Context: Ref{Type: "channel", ID: "C1", Name: "general"},
			Attributes: map[string]any{"channel_id": "C1", "ts": "1.2", "is_thread_reply": false, "text": "hi"}}}
	require.NoError(t, ValidateSignal(spec, s))

	s.Payload.Subject.Name = ""
	require.NoError(t, ValidateSignal(spec, s), "the subject's name is optional")

	for _, name := range []string{"", " ", "\t\n"} {
		s.Payload.Context.Name = name
		err := ValidateSignal(spec, s)
		require.Error(t, err, "context name %q", name)
		require.Contains(t, err.Error(), "payload.context needs a name")
	}

	s.Payload.Context.Name = "general"
	b, err := json.Marshal(s.Payload)
	require.NoError(t, err)
	var p struct {
		Context map[string]any `json:"context"`
	}
	require.NoError(t, json.Unmarshal(b, &p))
	require.Equal(t, map[string]any{"type": "channel", "id": "C1", "name": "general"}, p.Context)
}
