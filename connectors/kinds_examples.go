package connectors

// kindExamples is the example payload of every catalog kind, shown in
// docs/signal-kinds.md. Each is what the kind's first provider in the
// architecture's kind table (catalogdoc.go, ExampleKinds) sends for one of
// its package's recorded fixtures: the provider's conformance suite
// (connectortest, Env.Examples) fails when an example differs from its
// normalizer's output in any field. TestCatalogExamples validates every one
// against the catalog.
var kindExamples = map[string]Payload{
	// slack: a thread parent read by conversations.history, with no names
	// known (actor and channel by id; a sync that looked them up names
	// them).
	"message.posted": {
		Title:   "Press release draft v3 for review",
		URL:     "https://acme-pr.slack.com/archives/C061EG9SL/p1767272400000200",
		Actor:   Actor{ID: "U061F7AUR"},
		Subject: Ref{Type: "message", ID: "1767272400.000200"},
		Context: Ref{Type: "channel", ID: "C061EG9SL", Name: "C061EG9SL"},
		Attributes: map[string]any{
			"channel_id":      "C061EG9SL",
			"ts":              "1767272400.000200",
			"thread_ts":       "1767272400.000200",
			"is_thread_reply": false,
			"reply_count":     2,
			"text":            "Press release draft v3 for review",
		},
	},
	// slack: one user's reaction to the message above.
	"reaction.added": {
		Title:   "Reacted :eyes: to a message",
		URL:     "https://acme-pr.slack.com/archives/C061EG9SL/p1767272400000200",
		Actor:   Actor{ID: "U0HBQ4C2X"},
		Subject: Ref{Type: "message", ID: "1767272400.000200"},
		Context: Ref{Type: "channel", ID: "C061EG9SL", Name: "C061EG9SL"},
		Attributes: map[string]any{
			"reaction":   "eyes",
			"item_ts":    "1767272400.000200",
			"channel_id": "C061EG9SL",
			"item_user":  "U061F7AUR",
		},
	},
	// zoho-cliq: a mention from GET /api/v3/mentions (Zoho's own example);
	// the text is rendered for people, as the title.
	"mention.created": {
		Title:   "Mentioned in #Project Discussion: Hey @Ryan West, can you review this?",
		URL:     "https://cliq.zoho.com/chats/CT_1207124540483314854_60002085329",
		Actor:   Actor{ID: "60040396507", Name: "Scott Fisher"},
		Subject: Ref{Type: "message", ID: "1779854404814_60040396507"},
		Context: Ref{Type: "chat", ID: "CT_1207124540483314854_60002085329", Name: "Project Discussion"},
		Attributes: map[string]any{
			"chat_id":         "CT_1207124540483314854_60002085329",
			"mentioned_users": []string{"60040386526"},
			"message_id":      "1779854404814_60040396507",
			"text":            "Hey @Ryan West, can you review this?",
		},
	},
	// github: a push webhook with three commits.
	"code.pushed": {
		Title:   "3 commits pushed to main",
		URL:     "https://github.com/octo-org/hello-world/compare/bb472deb2fd5...e88792aa4f1e",
		Actor:   Actor{ID: "2154", Name: "monalisa"},
		Subject: Ref{Type: "commit", ID: "e88792aa4f1ecb4c7330404aca01c6bd8e640a02", Name: "Speed up the parser (3/3)"},
		Context: githubRepo,
		Attributes: map[string]any{
			"ref":          "refs/heads/main",
			"branch":       "main",
			"commit_count": 3,
			"head_commit": map[string]any{
				"id":        "e88792aa4f1ecb4c7330404aca01c6bd8e640a02",
				"message":   "Speed up the parser (3/3)",
				"url":       "https://github.com/octo-org/hello-world/commit/e88792aa4f1ecb4c7330404aca01c6bd8e640a02",
				"timestamp": "2024-06-03T10:03:00Z",
				"author":    map[string]any{"name": "Monalisa", "username": "monalisa"},
			},
			"compare_url": "https://github.com/octo-org/hello-world/compare/bb472deb2fd5...e88792aa4f1e",
			"forced":      false,
			"created":     false,
			"before":      "bb472deb2fd596ca564467c22655debb31ddc7c9",
			"after":       "e88792aa4f1ecb4c7330404aca01c6bd8e640a02",
			"source":      "webhook",
		},
	},
	// github: pull_request webhooks, action opened and closed.
	"pull_request.opened": {
		Title:      "Pull request #25 opened: Add a feature",
		URL:        "https://github.com/octo-org/hello-world/pull/25",
		Actor:      Actor{ID: "480938", Name: "hubot"},
		Subject:    githubPR,
		Context:    githubRepo,
		Attributes: githubPRAttrs("open"),
	},
	"pull_request.merged": {
		Title:   "Pull request #25 merged: Add a feature",
		URL:     "https://github.com/octo-org/hello-world/pull/25",
		Actor:   Actor{ID: "583231", Name: "octocat"},
		Subject: githubPR,
		Context: githubRepo,
		Attributes: githubPRAttrs("closed", map[string]any{
			"merged_by":        "octocat",
			"merge_commit_sha": "89ed3973cfdc3778ecd488a9201690aeaf7b6e27",
		}),
	},
	"pull_request.closed": {
		Title:      "Pull request #25 closed: Add a feature",
		URL:        "https://github.com/octo-org/hello-world/pull/25",
		Actor:      Actor{ID: "2154", Name: "monalisa"},
		Subject:    githubPR,
		Context:    githubRepo,
		Attributes: githubPRAttrs("closed"),
	},
	// github: a release webhook, action published.
	"release.published": {
		Title:   "Release Version 1.0 published",
		URL:     "https://github.com/octo-org/hello-world/releases/tag/v1.0.0",
		Actor:   Actor{ID: "583231", Name: "octocat"},
		Subject: Ref{Type: "release", ID: "150100008", Name: "v1.0.0"},
		Context: githubRepo,
		Attributes: map[string]any{
			"tag_name":         "v1.0.0",
			"prerelease":       false,
			"name":             "Version 1.0",
			"body":             "First stable release.",
			"target_commitish": "main",
		},
	},
	// jira: an issue read by a backfill (created), and a jira:issue_updated
	// webhook of LPR-42 whose changelog moves its status and changes its
	// labels (a status change is an update with a status item).
	"issue.created": {
		Title:   "Issue LPR-57 created: Analyst briefing deck",
		URL:     "https://acme-pr.atlassian.net/browse/LPR-57",
		Actor:   Actor{ID: "5b10ac8d82e05b22cc7d4ef5", Name: "Grace Hopper"},
		Subject: Ref{Type: "issue", ID: "10057", Name: "LPR-57"},
		Context: jiraProject,
		Attributes: map[string]any{
			"description":  "Scope\nSlides for Gartner, owned by @Grace Hopper\nsee https://acme.example/briefing\n- market sizing\n- 🚀 roadmap\n{\"tier\": 1}",
			"fix_versions": []string{},
			"issue_type":   "Story",
			"key":          "LPR-57",
			"labels":       []string{"analysts"},
			"priority":     "Medium",
			"status":       "In Progress",
		},
	},
	"issue.updated": {
		Title:   "Issue LPR-42 updated: Press kit for the Q3 launch",
		URL:     "https://acme-pr.atlassian.net/browse/LPR-42",
		Actor:   Actor{ID: "5b10a2844c20165700ede21g", Name: "Ada Lovelace"},
		Subject: jiraIssue,
		Context: jiraProject,
		Attributes: map[string]any{
			"assignee":        "Grace Hopper",
			"changed_fields":  []string{"labels"},
			"description":     "Goal\nA press kit for the Q3 launch: brand assets, quotes and the fact sheet.\n\n- owner: @5b10ac8d82e05b22cc7d4ef5\n- due: before the embargo\n\nno markup here",
			"fix_versions":    []string{"Q3 launch"},
			"issue_type":      "Task",
			"key":             "LPR-42",
			"labels":          []string{"launch", "press"},
			"priority":        "High",
			"status":          "In Review",
			"status_category": "indeterminate",
		},
	},
	"issue.status_changed": {
		Title:   "Issue LPR-42 moved from In Progress to In Review: Press kit for the Q3 launch",
		URL:     "https://acme-pr.atlassian.net/browse/LPR-42",
		Actor:   Actor{ID: "5b10a2844c20165700ede21g", Name: "Ada Lovelace"},
		Subject: jiraIssue,
		Context: jiraProject,
		Attributes: map[string]any{
			"assignee":        "Grace Hopper",
			"description":     "Goal\nA press kit for the Q3 launch: brand assets, quotes and the fact sheet.\n\n- owner: @5b10ac8d82e05b22cc7d4ef5\n- due: before the embargo\n\nno markup here",
			"fix_versions":    []string{"Q3 launch"},
			"from_status":     "In Progress",
			"issue_type":      "Task",
			"key":             "LPR-42",
			"labels":          []string{"launch", "press"},
			"priority":        "High",
			"status":          "In Review",
			"status_category": "indeterminate",
			"to_status":       "In Review",
		},
	},
	// google-drive: one document seen in three changes.list pages: created
	// in the tracked folder, edited and opened to another domain, trashed.
	"document.created": {
		Title:   "Document created: Q3 launch press release",
		URL:     driveDocURL,
		Actor:   Actor{ID: "ada@example.com", Name: "Ada Lovelace", Email: "ada@example.com"},
		Subject: driveDoc,
		Context: driveFolder,
		Attributes: map[string]any{
			"folder_path": []string{"Press releases"},
			"mime_type":   "application/vnd.google-apps.document",
			"reason":      "new",
			"size":        1187,
			"version":     7,
		},
	},
	// A My Drive file: Drive does not say who trashed it (trashingUser is
	// given for shared drive items only), so no actor.
	"document.trashed": {
		Title:   "Document trashed: Q3 launch press release",
		URL:     driveDocURL,
		Subject: driveDoc,
		Context: driveFolder,
		Attributes: map[string]any{
			"explicitly_trashed": true,
			"folder_path":        []string{"Press releases"},
			"mime_type":          "application/vnd.google-apps.document",
			"size":               2461,
			"version":            24,
		},
	},
	// Drive does not say who shared a document: no actor.
	"document.shared": {
		Title:   "Document shared with northwind-pr.example: Q3 launch press release",
		URL:     driveDocURL,
		Subject: driveDoc,
		Context: driveFolder,
		Attributes: map[string]any{
			"discoverable": false,
			"domain":       "northwind-pr.example",
			"folder_path":  []string{"Press releases"},
			"mime_type":    "application/vnd.google-apps.document",
			"role":         "commenter",
			"shared_with":  "domain",
			"size":         2461,
			"version":      23,
		},
	},
	"document.updated": {
		Title:   "Document edited: Q3 launch press release",
		URL:     driveDocURL,
		Actor:   Actor{ID: "ada@example.com", Name: "Ada Lovelace", Email: "ada@example.com"},
		Subject: driveDoc,
		Context: driveFolder,
		Attributes: map[string]any{
			"folder_path": []string{"Press releases"},
			"mime_type":   "application/vnd.google-apps.document",
			"size":        2461,
			"version":     23,
		},
	},
	// google-calendar: a recurring series on a shared calendar, an edited
	// event and the same event deleted by its organizer.
	"calendar_event.created": {
		Title:   "Weekly media monitoring review",
		URL:     "https://www.google.com/calendar/event?eid=N3RxMm1jbDNmMGRvaGJiNm81dHNwNGE1aGsgY19wcmVzcy50ZWFtQGc",
		Actor:   Actor{ID: "ada@example.com", Name: "Ada Lovelace", Email: "ada@example.com"},
		Subject: Ref{Type: "calendar_event", ID: "7tq2mcl3f0dohbb6o5tsp4a5hk", Name: "Weekly media monitoring review"},
		Context: Ref{Type: "calendar", ID: "c_press.team@group.calendar.google.com", Name: "Press team"},
		Attributes: map[string]any{
			"calendar_id":    "c_press.team@group.calendar.google.com",
			"status":         "confirmed",
			"all_day":        false,
			"start":          "2025-01-13T09:30:00-05:00",
			"end":            "2025-01-13T10:00:00-05:00",
			"recurrence":     []string{"RRULE:FREQ=WEEKLY;WKST=SU;BYDAY=MO", "EXDATE;TZID=America/New_York:20250217T093000"},
			"attendee_count": 3,
			"description":    "Coverage, sentiment, follow-ups.",
			"conference_url": "https://meet.google.com/pqm-wxyz-abc",
			"organizer_name": "Press team",
			"sequence":       1,
		},
	},
	"calendar_event.updated": {
		Title:   "Launch sync with Northwind PR",
		URL:     calendarEventURL,
		Actor:   calendarAda,
		Subject: calendarEvent,
		Context: calendarPrimary,
		Attributes: map[string]any{
			"calendar_id":    "ada@example.com",
			"status":         "confirmed",
			"all_day":        false,
			"start":          "2025-01-21T14:30:00Z",
			"end":            "2025-01-21T15:30:00Z",
			"attendee_count": 2,
			"location":       "Northwind office, 12 Market St",
			"description":    "<b>Agenda</b><br>1. Embargo date<br>2. Spokespeople<br>3. Press kit",
			"conference_url": "https://meet.google.com/jrt-kvbn-xqz",
			"organizer_name": "Ada Lovelace",
			"sequence":       2,
		},
	},
	"calendar_event.cancelled": {
		Title:   "Launch sync with Northwind PR",
		URL:     calendarEventURL,
		Actor:   calendarAda,
		Subject: calendarEvent,
		Context: calendarPrimary,
		Attributes: map[string]any{
			"calendar_id":    "ada@example.com",
			"status":         "cancelled",
			"all_day":        false,
			"start":          "2025-01-20T10:00:00Z",
			"end":            "2025-01-20T11:00:00Z",
			"attendee_count": 2,
			"location":       "Northwind office, 12 Market St",
			"description":    "<b>Agenda</b><br>1. Embargo date<br>2. Spokespeople<br>3. Press kit",
			"conference_url": "https://meet.google.com/jrt-kvbn-xqz",
			"organizer_name": "Ada Lovelace",
			"sequence":       1,
		},
	},
	// gmail: the first message of a thread (message id == thread id), from
	// history.list and messages.get(format=metadata); only the
	// correspondent's address is kept, recipients by domain. The press
	// detector qualifies the same thread.
	"email.thread_started": {
		Title:   "New thread: Request for comment — Northwind launch",
		URL:     "https://mail.google.com/mail/?authuser=ada%40example.com#all/1948e07b3c2d5a14",
		Actor:   Actor{ID: "sam.reporter@dailytech.example", Name: "Reporter, Sam", Email: "sam.reporter@dailytech.example"},
		Subject: Ref{Type: "thread", ID: "1948e07b3c2d5a14", Name: "Request for comment — Northwind launch"},
		Context: gmailMailbox,
		Attributes: map[string]any{
			"cc_domains":    []string{"dailytech.example"},
			"correspondent": map[string]any{"email": "sam.reporter@dailytech.example", "name": "Reporter, Sam"},
			"direction":     "inbound",
			"from":          "sam.reporter@dailytech.example",
			"label_ids":     []string{"UNREAD", "IMPORTANT", "CATEGORY_PERSONAL", "INBOX"},
			"message_id":    "1948e07b3c2d5a14",
			"snippet":       "Hi Ada, I'm working on a story about the Northwind launch for Thursday's paper and would welcome your comment by 5pm ET.",
			"subject":       "Request for comment — Northwind launch",
			"thread_id":     "1948e07b3c2d5a14",
			"to_domains":    []string{"example.com"},
		},
	},
	// gmail: the thread's first message the press detector qualifies.
	"email.press_thread": {
		Title:   "Press thread with sam.reporter@dailytech.example: Request for comment — Northwind launch",
		URL:     "https://mail.google.com/mail/?authuser=ada%40example.com#all/1948e07b3c2d5a14",
		Actor:   Actor{ID: "sam.reporter@dailytech.example", Name: "Reporter, Sam", Email: "sam.reporter@dailytech.example"},
		Subject: Ref{Type: "thread", ID: "1948e07b3c2d5a14", Name: "Request for comment — Northwind launch"},
		Context: gmailMailbox,
		Attributes: map[string]any{
			"thread_id":     "1948e07b3c2d5a14",
			"message_id":    "1948e07b3c2d5a14",
			"subject":       "Request for comment — Northwind launch",
			"direction":     "inbound",
			"from":          "sam.reporter@dailytech.example",
			"correspondent": map[string]any{"name": "Reporter, Sam", "email": "sam.reporter@dailytech.example"},
			"snippet":       "Hi Ada, I'm working on a story about the Northwind launch for Thursday's paper and would welcome your comment by 5pm ET.",
			"to_domains":    []string{"example.com"},
			"cc_domains":    []string{"dailytech.example"},
			"label_ids":     []string{"UNREAD", "IMPORTANT", "CATEGORY_PERSONAL", "INBOX"},
			"matched":       []string{"dailytech.example"},
			"score":         1.0,
			"reasons": []string{"tenant press domain dailytech.example", "subject cue \"request for comment\"",
				"address cue \"reporter\"", "display name cue \"reporter\""},
		},
	},
	// zoho-mail: messages polled from the Inbox and Sent folders (64-bit ids
	// kept as strings, subjects unescaped).
	"email.received": {
		Title:   "Email from jane.doe@reuters.com: Request for comment: Zylker pricing & plans",
		URL:     "https://mail.zoho.eu/zm/#mail/folder/inbox/p/1711540357880100001",
		Actor:   Actor{ID: "jane.doe@reuters.com", Name: "Jane Doe", Email: "jane.doe@reuters.com"},
		Subject: Ref{Type: "message", ID: "1711540357880100001", Name: "Request for comment: Zylker pricing & plans"},
		Context: Ref{Type: "folder", ID: "7325431000000008012", Name: "Inbox"},
		Attributes: map[string]any{
			"from":       "jane.doe@reuters.com",
			"message_id": "1711540357880100001",
			"subject":    "Request for comment: Zylker pricing & plans",
			"thread_id":  "1711540357880100001",
			"to":         []string{"ada@zylker.eu"},
		},
	},
	"email.sent": {
		Title:   "Email to jane.doe@reuters.com: Re: Request for comment: Zylker pricing & plans",
		URL:     "https://mail.zoho.eu/zm/#mail/folder/sent/p/1711548021040100001",
		Actor:   Actor{ID: "ada@zylker.eu", Name: "Ada Lovelace", Email: "ada@zylker.eu"},
		Subject: Ref{Type: "message", ID: "1711548021040100001", Name: "Re: Request for comment: Zylker pricing & plans"},
		Context: Ref{Type: "folder", ID: "7325431000000008014", Name: "Sent"},
		Attributes: map[string]any{
			"from":       "ada@zylker.eu",
			"message_id": "1711548021040100001",
			"subject":    "Re: Request for comment: Zylker pricing & plans",
			"thread_id":  "1711540357880100001",
			"to":         []string{"jane.doe@reuters.com"},
		},
	},
}

// Parts shared by several examples.
var (
	githubRepo = Ref{Type: "repository", ID: "1296269", Name: "octo-org/hello-world"}
	githubPR   = Ref{Type: "pull_request", ID: "1347100006", Name: "Add a feature"}

	jiraIssue   = Ref{Type: "issue", ID: "10042", Name: "LPR-42"}
	jiraProject = Ref{Type: "project", ID: "10001", Name: "Launch PR"}

	driveFolder = Ref{Type: "folder", ID: "1Xy2Zw3Vu4Ts5Rq6Po7Nm8Lk9Ji0Hg1Fe", Name: "Press releases"}
	driveDoc    = Ref{Type: "file", ID: "1hT4mZq8Vx2Lr9NcWb3Ks7Pd5Yf0Ge6Ju1Ao4Ei8Rw", Name: "Q3 launch press release"}
	driveDocURL = "https://docs.google.com/document/d/1hT4mZq8Vx2Lr9NcWb3Ks7Pd5Yf0Ge6Ju1Ao4Ei8Rw/edit?usp=drivesdk"

	calendarEventURL = "https://www.google.com/calendar/event?eid=NnAzazhzOXEwdjFtMm40YjVjN2Q4ZTlmMGcgYWRhQGV4YW1wbGUuY29t"
	calendarAda      = Actor{ID: "ada@example.com", Name: "Ada Lovelace", Email: "ada@example.com"}
	calendarEvent    = Ref{Type: "calendar_event", ID: "6p3k8s9q0v1m2n4b5c7d8e9f0g", Name: "Launch sync with Northwind PR"}
	calendarPrimary  = Ref{Type: "calendar", ID: "ada@example.com", Name: "ada@example.com"}

	gmailMailbox = Ref{Type: "mailbox", ID: "ada@example.com", Name: "ada@example.com"}
)

// githubPRAttrs are the attributes of the example pull request in the given
// state, plus extra.
func githubPRAttrs(state string, extra ...map[string]any) map[string]any {
	attrs := map[string]any{
		"number":    25,
		"state":     state,
		"draft":     false,
		"base_ref":  "main",
		"head_ref":  "feature-25",
		"labels":    []string{"enhancement"},
		"additions": 12,
		"deletions": 4,
	}
	for _, e := range extra {
		for k, v := range e {
			attrs[k] = v
		}
	}
	return attrs
}
