// Package all registers every provider connector. A new provider is a new
// package under connectors/ and one line here.
package all

import (
	_ "github.com/poblysh/poblysh/connectors/github"         // github
	_ "github.com/poblysh/poblysh/connectors/googlecalendar" // google-calendar
	_ "github.com/poblysh/poblysh/connectors/slack"          // slack
)
