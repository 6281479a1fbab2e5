package workflows_test

import (
	"os"
	"testing"

	"github.com/poblysh/poblysh/testenv"
)

// TestMain stops the dev server TestRecordHistories may have started.
func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }
