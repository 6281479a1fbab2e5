package github

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/ingest"
	githubsandbox "github.com/poblysh/poblysh/sandbox/github"
)

// oldForm is sigs as versions before the HEAD keys stored them: every
// commit keyed by the branch's name (commit:<repo>:<ref>:<sha>), pushes'
// other commits as aliases, no match key.
func oldForm(sigs []connectors.Signal) []connectors.Signal {
	out := make([]connectors.Signal, 0, len(sigs))
	for _, s := range sigs {
		named := ":" + s.Payload.Attributes["ref"].(string) + ":"
		s.DedupeKey = strings.Replace(s.DedupeKey, ":HEAD:", named, 1)
		var aliases []string
		for _, a := range s.AliasKeys {
			if a = strings.Replace(a, ":HEAD:", named, 1); a != s.DedupeKey {
				aliases = append(aliases, a)
			}
		}
		s.AliasKeys, s.MatchKeys = aliases, nil
		out = append(out, s)
	}
	return out
}

// TestStoredBeforeUpgradeIsDuplicateAfterRename: Signals stored before the
// HEAD keys claim none. Migration 0035 gives each commit key of a default
// branch (a branch a backfilled commit of the repository was keyed by)
// its HEAD key as an alias: the backfill after the default branch is
// renamed then stores nothing again, neither the backfilled history nor
// the commits of a push to it. A push to another branch gets none, nor
// does another provider's Signal.
func TestStoredBeforeUpgradeIsDuplicateAfterRename(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHarness(t, githubsandbox.Options{}, nil)
	st := newStore(t)
	repo := githubsandbox.SeedRepo
	var slack string
	require.NoError(t, st.s.DB.WithTenant(ctx, st.tenant, func(tx *db.Tx) error {
		c, _, err := tx.UpsertConnection(ctx, db.ConnectionUpsert{Provider: "slack", ExternalAccountID: "T1", DisplayName: "T1"})
		slack = c.ID
		return err
	}))
	parse := func(a *githubsandbox.Activity) []connectors.Signal {
		d, err := h.connector().ParseWebhook(webhookRequest(h.srv.AppDelivery(a.Events[0])))
		require.NoError(t, err)
		return d.Signals
	}
	aliases := func() []string {
		var out []string
		require.NoError(t, st.s.DB.WithTenant(ctx, st.tenant, func(tx *db.Tx) error {
			return tx.SelectContext(ctx, &out, `SELECT key FROM signal_aliases WHERE key LIKE '%:HEAD:%' ORDER BY key`)
		}))
		return out
	}

	// Stored by the earlier version: the backfill of main, a push to main
	// and a push to a feature branch.
	sigs, _, _ := h.drain(t, seedCommitsStream, nil)
	require.Equal(t, githubsandbox.SeedCommits, st.put(t, oldForm(sigs)))
	toMain, err := h.srv.Push(repo, githubsandbox.PushInput{Commits: 2})
	require.NoError(t, err)
	require.Equal(t, 1, st.put(t, oldForm(parse(toMain))))
	feature, err := h.srv.Push(repo, githubsandbox.PushInput{Branch: "feature/x", Commits: 1})
	require.NoError(t, err)
	require.Equal(t, 1, st.put(t, oldForm(parse(feature))))
	// Another provider's Signal keyed like one of GitHub's.
	rows, err := ingest.Rows(oldForm(parse(feature)))
	require.NoError(t, err)
	require.NoError(t, st.s.DB.WithTenantSignals(ctx, st.tenant, func(tx *db.Tx) error {
		_, err := tx.InsertSignals(ctx, slack, "slack", rows)
		return err
	}))
	require.Empty(t, aliases())

	st.s.Replay(t, 35, "poblysh_app") // as a schema owner that is no superuser

	var want []string
	for _, s := range sigs {
		want = append(want, "github:"+headKey(seedContext, s.Payload.Subject.ID))
	}
	for _, c := range toMain.Object["commits"].([]map[string]any) {
		want = append(want, "github:"+headKey(seedContext, c["id"].(string)))
	}
	require.ElementsMatch(t, want, aliases(), "each commit of the default branch, the push's included; not the feature branch's")

	_, err = h.srv.RenameBranch(repo, "main", "trunk")
	require.NoError(t, err)
	sigs, _, _ = h.drain(t, seedCommitsStream, nil)
	require.Len(t, keysOf(sigs), githubsandbox.SeedCommits+2)
	require.Zero(t, st.put(t, sigs), "the backfill after the rename stores nothing stored before the upgrade again")

	st.s.Replay(t, 35, "poblysh_app") // again: nothing changes
	require.ElementsMatch(t, want, aliases())
}
