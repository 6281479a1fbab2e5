package zohomail

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors/press"
)

// email.press_thread's correspondent is {name, email}, as the catalog
// (connectors/kinds.go) says and Gmail writes it; it was the address alone.
func TestPressCorrespondentIsNameAndEmail(t *testing.T) {
	t.Parallel()
	it := &item{MessageID: "1711540357880115839", ThreadID: "1711540357880115839", Subject: "For comment",
		FromAddress: "jane.doe@reuters.com", Sender: "Jane Doe", ReceivedTime: "1711540357880"}
	r := press.Result{Press: true, Score: 0.9, Reasons: []string{"media domain"}, Matched: []string{"reuters.com"},
		Correspondent: press.Address{Name: "Jane Doe", Email: "Jane.Doe@Reuters.com"}}
	s, ok := pressSignal(folder{ID: "1", Type: "Inbox", Mailbox: "42"}, it, r, nil)
	require.True(t, ok)
	b, _ := json.Marshal(s.Payload)
	var p struct{ Attributes map[string]any }
	require.NoError(t, json.Unmarshal(b, &p))
	require.Equal(t, map[string]any{"name": "Jane Doe", "email": "jane.doe@reuters.com"}, p.Attributes["correspondent"])

}
