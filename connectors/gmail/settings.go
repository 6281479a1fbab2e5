package gmail

import (
	"fmt"
	"net/mail"
	"regexp"
	"strings"

	"github.com/poblysh/poblysh/connectors"
)

var (
	// projectIDRE is a Cloud project id (6 to 30 lowercase letters, digits
	// and hyphens, from a letter, not ending with a hyphen), after the
	// domain of a legacy domain-scoped project ("example.com:my-project").
	projectIDRE = regexp.MustCompile(`^(?:[a-z0-9][a-z0-9.-]*[a-z0-9]:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$`)
	// topicIDRE is the characters Pub/Sub allows in a topic id.
	topicIDRE = regexp.MustCompile(`^[A-Za-z0-9._~+%-]*$`)
)

// topicSetting reads PUBSUB_TOPIC, the topic users.watch publishes to,
// and refuses one that is not a topic's resource name as Pub/Sub documents
// it: projects/{project}/topics/{topic}, the topic id 3 to 255 letters,
// digits, - _ . ~ + or %, starting with a letter and not with "goog". A
// malformed topic failed only at each watch (Gmail's 400), and every
// connection polled. The error quotes the value: a topic is no secret,
// and the reason names the part at fault.
func topicSetting(cfg connectors.Config) (string, error) {
	v := strings.TrimSpace(cfg.Setting("PUBSUB_TOPIC"))
	if v == "" {
		return "", nil
	}
	if why, ok := topicName(v); !ok {
		if why != "" {
			why = ": " + why
		}
		return "", fmt.Errorf("%w: %s (%q) must be a Pub/Sub topic name, projects/<project>/topics/<topic>%s",
			connectors.ErrInvalidConfig, cfg.SettingVar("PUBSUB_TOPIC"), v, why)
	}
	return v, nil
}

// topicName checks a Pub/Sub topic's resource name, and says what is wrong
// with one whose shape is right ("" when the shape is wrong).
func topicName(v string) (string, bool) {
	parts := strings.Split(v, "/")
	if len(parts) != 4 || parts[0] != "projects" || parts[2] != "topics" || parts[1] == "" || parts[3] == "" {
		return "", false
	}
	project, topic := parts[1], parts[3]
	switch {
	case !projectIDRE.MatchString(project):
		return "a project id is 6 to 30 lowercase letters, digits and hyphens, starting with a letter and not ending with a hyphen", false
	case len(topic) < 3 || len(topic) > 255:
		return "a topic id is 3 to 255 characters", false
	case !(topic[0] >= 'a' && topic[0] <= 'z' || topic[0] >= 'A' && topic[0] <= 'Z'):
		return "a topic id starts with a letter", false
	case !topicIDRE.MatchString(topic):
		return "a topic id has only letters, digits and - _ . ~ + %", false
	case strings.HasPrefix(topic, "goog"):
		return `a topic id may not start with "goog"`, false
	}
	return "", true
}

// serviceAccountSetting reads PUSH_SERVICE_ACCOUNT, the address push
// tokens must name (lowercased, as tokens are compared without case), and
// refuses anything but one bare address: a malformed one refused every
// push.
func serviceAccountSetting(cfg connectors.Config) (string, error) {
	v := strings.ToLower(strings.TrimSpace(cfg.Setting("PUSH_SERVICE_ACCOUNT")))
	if v == "" {
		return "", nil
	}
	if a, err := mail.ParseAddress(v); err != nil || a.Name != "" || a.Address != v {
		return "", fmt.Errorf("%w: %s must be the push subscription's service account, an email address such as push@my-project.iam.gserviceaccount.com",
			connectors.ErrInvalidConfig, cfg.SettingVar("PUSH_SERVICE_ACCOUNT"))
	}
	return v, nil
}
