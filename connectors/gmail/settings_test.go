package gmail_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/connectors/gmail"
)

// The Pub/Sub topic is refused at start unless it is a topic's resource
// name as Pub/Sub names them: projects/<project id>/topics/<topic id>, the
// topic id 3–255 letters, digits and - _ . ~ + %, starting with a letter
// and not with "goog". The error names the variable and quotes the value
// (a topic is no secret). A malformed topic failed only at each watch,
// with Gmail's 400, and every connection polled.
func TestPubSubTopicSetting(t *testing.T) {
	t.Parallel()
	for _, topic := range []string{
		"projects/poblysh-sandbox/topics/gmail-push",
		"projects/my-project-123/topics/Gmail_Push.v2~a+b%20c",
		"projects/example.com:press-desk/topics/gmail", // a domain-scoped project
		"projects/abcdef/topics/abc",
		"projects/my-project/topics/" + "t" + strings.Repeat("x", 254),
		"  projects/my-project/topics/gmail  ",
	} {
		_, err := gmail.Spec.New(connectors.Config{}.WithSettings(map[string]string{"PUBSUB_TOPIC": topic}))
		require.NoError(t, err, topic)
	}
	for topic, why := range map[string]string{
		"gmail-push":                                               "",
		"projects/my-project/topics/":                              "",
		"projects//topics/gmail":                                   "",
		"projects/my-project/subscriptions/gmail":                  "",
		"projects/my-project/topics/gmail/extra":                   "",
		"//pubsub.googleapis.com/projects/my-project/topics/gmail": "",
		"projects/my-project/topics/go":                            "a topic id is 3 to 255 characters",
		"projects/my-project/topics/t" + strings.Repeat("x", 255):  "a topic id is 3 to 255 characters",
		"projects/my-project/topics/1-gmail":                       "a topic id starts with a letter",
		"projects/my-project/topics/gmail push":                    "a topic id has only letters, digits and - _ . ~ + %",
		"projects/my-project/topics/gmail/":                        "",
		"projects/my-project/topics/goog-gmail":                    `a topic id may not start with "goog"`,
		"projects/My-Project/topics/gmail":                         "a project id is 6 to 30 lowercase letters, digits and hyphens, starting with a letter and not ending with a hyphen",
		"projects/proj/topics/gmail":                               "a project id is 6 to 30 lowercase letters, digits and hyphens, starting with a letter and not ending with a hyphen",
		"projects/my-project-/topics/gmail":                        "a project id is 6 to 30 lowercase letters, digits and hyphens, starting with a letter and not ending with a hyphen",
	} {
		_, err := gmail.Spec.New(connectors.Config{}.WithSettings(map[string]string{"PUBSUB_TOPIC": topic}))
		require.ErrorIs(t, err, connectors.ErrInvalidConfig, topic)
		want := `PUBSUB_TOPIC ("` + strings.TrimSpace(topic) + `") must be a Pub/Sub topic name, projects/<project>/topics/<topic>`
		if why != "" {
			want += ": " + why
		}
		require.ErrorContains(t, err, want)
	}
}

// The other free-text settings are refused at start when malformed: the
// push service account must be an address, the push issuer, its keys
// and the userinfo endpoint absolute http(s) URLs.
func TestFreeTextSettings(t *testing.T) {
	t.Parallel()
	ok := map[string]string{
		"PUSH_SERVICE_ACCOUNT": "gmail-push@my-project.iam.gserviceaccount.com", "PUSH_ISSUER": "https://accounts.google.com",
		"PUSH_JWKS_URL": "https://www.googleapis.com/oauth2/v3/certs", "USERINFO_URL": "http://127.0.0.1:9102/userinfo",
		"PUSH_AUDIENCE": "any string Pub/Sub was given",
	}
	_, err := gmail.Spec.New(connectors.Config{}.WithSettings(ok))
	require.NoError(t, err)
	for _, bad := range []struct{ name, value string }{
		{"PUSH_SERVICE_ACCOUNT", "gmail-push"},
		{"PUSH_SERVICE_ACCOUNT", "Push <gmail-push@my-project.iam.gserviceaccount.com>"},
		{"PUSH_SERVICE_ACCOUNT", "gmail-push@my-project.iam.gserviceaccount.com, other@my-project.iam.gserviceaccount.com"},
		{"PUSH_ISSUER", "accounts.google.com"},
		{"PUSH_JWKS_URL", "www.googleapis.com/oauth2/v3/certs"},
		{"PUSH_JWKS_URL", "https://"},
		{"USERINFO_URL", "ftp://127.0.0.1/userinfo"},
	} {
		_, err := gmail.Spec.New(connectors.Config{}.WithSettings(map[string]string{bad.name: bad.value}))
		require.ErrorIs(t, err, connectors.ErrInvalidConfig, "%s=%s", bad.name, bad.value)
		require.ErrorContains(t, err, bad.name+" must be", "names the variable")
	}
}
