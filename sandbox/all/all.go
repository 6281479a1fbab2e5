// Package all registers the fake of every provider connector
// (connectors/all). A new provider's fake is a new package under sandbox/
// that calls sandbox.Register in its init, and one line here.
//
// The engine's test provider (sandbox/fake) is not listed: it is linked in
// with its connector (connectors/fake), which connectors/all leaves out too.
package all

import (
	_ "github.com/poblysh/poblysh/sandbox/github"         // github
	_ "github.com/poblysh/poblysh/sandbox/gmail"          // gmail
	_ "github.com/poblysh/poblysh/sandbox/googlecalendar" // google-calendar
	_ "github.com/poblysh/poblysh/sandbox/googledrive"    // google-drive
	_ "github.com/poblysh/poblysh/sandbox/jira"           // jira
	_ "github.com/poblysh/poblysh/sandbox/slack"          // slack
	_ "github.com/poblysh/poblysh/sandbox/zoho"           // zoho-cliq, zoho-mail
)
