package logging

import "testing"

func TestToSnake(t *testing.T) {
	for in, want := range map[string]string{
		"WorkflowID": "workflow_id", "RunID": "run_id", "ActivityType": "activity_type",
		"Namespace": "namespace", "HTTPServer": "http_server", "worker_id": "worker_id",
	} {
		if got := toSnake(in); got != want {
			t.Errorf("toSnake(%q) = %q, want %q", in, got, want)
		}
	}
}
