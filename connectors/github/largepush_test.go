package github

import (
	"testing"

	"github.com/stretchr/testify/require"

	githubsandbox "github.com/poblysh/poblysh/sandbox/github"
)

// TestPushOfMoreThan2048CommitsSaysItIsTruncated: GitHub's push payload
// lists at most 2048 commits ("If necessary, you can use the Commits API
// to fetch additional commits"), and says nothing of how many it left
// out. A push listing 2048 is marked commit_count_truncated (commit_count
// counts those listed: the push may hold more), titled "2048+ commits";
// one listing fewer is not. The commits it does not list are not its
// aliases: the commits sync stores them as code.pushed of their own.
func TestPushOfMoreThan2048CommitsSaysItIsTruncated(t *testing.T) {
	h := newHarness(t, githubsandbox.Options{}, nil)
	repo := githubsandbox.SeedRepo
	_, cur, _ := h.drain(t, seedCommitsStream, nil)
	a, err := h.srv.Push(repo, githubsandbox.PushInput{Commits: 2100})
	require.NoError(t, err)
	listed := pushedSHAs(a)
	require.Len(t, listed, maxPushCommits, "GitHub's payload lists 2048 commits at most")
	d, err := h.connector().ParseWebhook(webhookRequest(h.srv.AppDelivery(a.Events[0])))
	require.NoError(t, err)
	require.Len(t, d.Signals, 1)
	s := d.Signals[0]
	require.Equal(t, "2048+ commits pushed to main", s.Payload.Title)
	require.Equal(t, maxPushCommits, s.Payload.Attributes["commit_count"])
	require.Equal(t, true, s.Payload.Attributes["commit_count_truncated"])
	require.Equal(t, headKey("1296269", a.Object["after"].(string)), s.DedupeKey)

	sigs, _, _ := h.drain(t, seedCommitsStream, cur)
	require.Len(t, sigs, 2100, "the sync reads every commit of the push")
	claimed := map[string]bool{s.DedupeKey: true}
	for _, k := range s.AliasKeys {
		claimed[k] = true
	}
	unclaimed := 0
	for _, c := range sigs {
		if !claimed[c.DedupeKey] {
			unclaimed++
		}
	}
	require.Equal(t, 2100-maxPushCommits-1, unclaimed,
		"the commits the payload left out, but its head (the push's key), are the sync's (the sandbox lists the oldest 2048)")

	small, err := h.srv.Push(repo, githubsandbox.PushInput{Commits: 3})
	require.NoError(t, err)
	d, err = h.connector().ParseWebhook(webhookRequest(h.srv.AppDelivery(small.Events[0])))
	require.NoError(t, err)
	require.Equal(t, "3 commits pushed to main", d.Signals[0].Payload.Title)
	require.Equal(t, 3, d.Signals[0].Payload.Attributes["commit_count"])
	require.NotContains(t, d.Signals[0].Payload.Attributes, "commit_count_truncated")
}
