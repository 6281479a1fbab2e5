// Package logging configures logrus (JSON, one line per event) and bridges
// the Temporal SDK's logger to it, so SDK, worker and request logs share one
// format and one sink.
package logging

import (
	"fmt"
	"io"
	"strings"

	"github.com/sirupsen/logrus"
	tlog "go.temporal.io/sdk/log"
)

// New returns a JSON logrus logger writing to w at level ("debug", "info"...).
func New(w io.Writer, level string) (*logrus.Logger, error) {
	l := logrus.New()
	l.SetOutput(w)
	l.SetFormatter(&logrus.JSONFormatter{TimestampFormat: "2006-01-02T15:04:05.000Z07:00"})
	lvl, err := logrus.ParseLevel(strings.ToLower(level))
	if err != nil {
		return nil, fmt.Errorf("config: POBLYSH_LOG_LEVEL: %w", err)
	}
	l.SetLevel(lvl)
	return l, nil
}

// Temporal adapts a logrus logger to the Temporal SDK's log.Logger.
type Temporal struct {
	entry *logrus.Entry
}

var _ tlog.Logger = (*Temporal)(nil)
var _ tlog.WithLogger = (*Temporal)(nil)

// NewTemporal bridges l for the Temporal client and worker.
func NewTemporal(l *logrus.Logger) *Temporal {
	return &Temporal{entry: logrus.NewEntry(l).WithField("component", "temporal")}
}

func (t *Temporal) fields(keyvals []any) *logrus.Entry {
	if len(keyvals) == 0 {
		return t.entry
	}
	f := make(logrus.Fields, len(keyvals)/2)
	for i := 0; i+1 < len(keyvals); i += 2 {
		f[toSnake(fmt.Sprint(keyvals[i]))] = keyvals[i+1]
	}
	return t.entry.WithFields(f)
}

// Debug logs at debug level.
func (t *Temporal) Debug(msg string, keyvals ...any) { t.fields(keyvals).Debug(msg) }

// Info logs at info level.
func (t *Temporal) Info(msg string, keyvals ...any) { t.fields(keyvals).Info(msg) }

// Warn logs at warn level.
func (t *Temporal) Warn(msg string, keyvals ...any) { t.fields(keyvals).Warn(msg) }

// Error logs at error level.
func (t *Temporal) Error(msg string, keyvals ...any) { t.fields(keyvals).Error(msg) }

// With returns a logger carrying keyvals on every line.
func (t *Temporal) With(keyvals ...any) tlog.Logger { return &Temporal{entry: t.fields(keyvals)} }

// toSnake turns the SDK's "WorkflowID" style keys into "workflow_id".
func toSnake(s string) string {
	isUpper := func(c byte) bool { return c >= 'A' && c <= 'Z' }
	isLower := func(c byte) bool { return c >= 'a' && c <= 'z' }
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isUpper(c) {
			if i > 0 && (isLower(s[i-1]) || (isUpper(s[i-1]) && i+1 < len(s) && isLower(s[i+1]))) {
				b.WriteByte('_')
			}
			c += 'a' - 'A'
		}
		b.WriteByte(c)
	}
	return b.String()
}
