package slack

import _ "github.com/slack-go/slack" // Web API client and event types
