package logging

import (
	"os"
	"testing"

	"github.com/sirupsen/logrus"
)

// BenchmarkAccessLine is the cost of one access-log line (the fields
// api.accessLog writes) at info, where it is written, and at warn, where
// only its fields are built: what running the benchmarks at warn leaves
// out (docs/performance.md).
func BenchmarkAccessLine(b *testing.B) {
	devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer devNull.Close()
	for _, level := range []string{"info", "warn"} {
		l, err := New(devNull, level)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(level, func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				l.WithFields(logrus.Fields{
					"request_id": "01M954DMJ3EPQD5R9KNVWGVRWH", "method": "GET", "path": "/api/v1/signals", "route": "listSignals",
					"status": 200, "bytes": 69455, "duration_ms": 4.496, "tenant_id": "b9bd432e-ff87-48ae-b78b-cb77d04588b2",
				}).Info("http request")
			}
		})
	}
}
