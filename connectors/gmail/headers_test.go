package gmail

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors/press"
)

// TestMetadataHeadersCoverThePressDetector: messages.get asks for every
// header the press detector reads, list headers included.
func TestMetadataHeadersCoverThePressDetector(t *testing.T) {
	for _, h := range press.Headers {
		require.Contains(t, metadataHeaders, h)
	}
}
