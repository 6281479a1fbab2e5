// Package all registers every provider connector. A new provider is a new
// package under connectors/ and one line here.
package all

import (
	_ "github.com/poblysh/poblysh/connectors/github"         // github
	_ "github.com/poblysh/poblysh/connectors/gmail"          // gmail
	_ "github.com/poblysh/poblysh/connectors/googlecalendar" // google-calendar
	_ "github.com/poblysh/poblysh/connectors/googledrive"    // google-drive
	_ "github.com/poblysh/poblysh/connectors/jira"           // jira
	_ "github.com/poblysh/poblysh/connectors/slack"          // slack
	_ "github.com/poblysh/poblysh/connectors/zohocliq"       // zoho-cliq
	_ "github.com/poblysh/poblysh/connectors/zohomail"       // zoho-mail
)
