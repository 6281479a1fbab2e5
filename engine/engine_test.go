package engine

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestUILinkEscapesWorkflowIDs(t *testing.T) {
	t.Parallel()
	e := &Engine{UIURL: "http://127.0.0.1:8233", Namespace: "default"}
	require.Equal(t, "http://127.0.0.1:8233/namespaces/default/workflows/sync%2Fc1%2Fpulls:octo%2Fhello/run-1/history",
		e.UILink("sync/c1/pulls:octo/hello", "run-1"))
	require.Equal(t, "http://127.0.0.1:8233/namespaces/default/workflows/token-refresh%2Fc1", e.UILink("token-refresh/c1", ""))
	require.Empty(t, (&Engine{}).UILink("x", "y"), "no UI configured, no link")
}
