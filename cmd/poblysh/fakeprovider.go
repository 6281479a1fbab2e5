//go:build fakeprovider

package main

// Built with -tags fakeprovider (tests and benchmarks that run the binary as
// a separate process), the binary also serves the engine's test provider.
import _ "github.com/poblysh/poblysh/connectors/fake"
