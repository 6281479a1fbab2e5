package googlecalendar

import (
	_ "google.golang.org/api/calendar/v3" // Calendar API client
	_ "google.golang.org/api/option"
)
