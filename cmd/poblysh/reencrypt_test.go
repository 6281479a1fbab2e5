package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
	"github.com/poblysh/poblysh/vault"
)

// A token under a key the ring does not hold (retired too early, step 5
// of docs/key-rotation.md before step 3) stops `poblysh reencrypt`, whose
// message names the key id and says to put that key back in
// POBLYSH_CRYPTO_RETIRED_KEYS: running it again as it was fails the same
// way. With the key back, it finishes.
func TestReencryptAdvisesTheMissingKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	oldKey, newKey := vault.GenerateKey(), vault.GenerateKey()
	old, err := vault.ParseKey(oldKey)
	require.NoError(t, err)
	tenant, conn := dbtest.Seed(t, s.DB, "rotate", "github", "acct")
	require.NoError(t, s.DB.WithTenant(ctx, tenant, func(tx *db.Tx) error {
		return tx.SaveTokens(ctx, vault.NewKeyRing(old), conn, db.Tokens{AccessToken: "a", RefreshToken: "r", TokenType: "Bearer"})
	}))
	env := configEnv(t, s.OwnerURL)
	env["POBLYSH_CRYPTO_KEY"] = newKey
	reencrypt := func() (string, error) {
		var out, errOut bytes.Buffer
		err := run(ctx, []string{"reencrypt"}, envOf(env), &out, &errOut)
		return out.String(), err
	}

	_, err = reencrypt()
	require.Error(t, err)
	require.Contains(t, err.Error(), "vault: ciphertext was encrypted with a key that is not in the key ring (key id "+old.ID+")",
		"the text docs/key-rotation.md quotes")
	require.Contains(t, err.Error(), "put the key with id "+old.ID+" back in POBLYSH_CRYPTO_RETIRED_KEYS, then run it again")
	require.NotContains(t, err.Error(), newKey)
	require.NotContains(t, err.Error(), oldKey)

	env["POBLYSH_CRYPTO_RETIRED_KEYS"] = oldKey
	out, err := reencrypt()
	require.NoError(t, err)
	require.Contains(t, out, "reencrypt: 1 connections, 0 pending authorizations and 0 hook secrets moved to key ")
}

// staleToken stores a connection's tokens under a key that is then
// retired, and returns an environment whose current key is a new one (the
// old one still in POBLYSH_CRYPTO_RETIRED_KEYS): one connection for
// `poblysh reencrypt` to move.
func staleToken(t *testing.T) map[string]string {
	t.Helper()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	oldKey, newKey := vault.GenerateKey(), vault.GenerateKey()
	old, err := vault.ParseKey(oldKey)
	require.NoError(t, err)
	tenant, conn := dbtest.Seed(t, s.DB, "rotate", "github", "acct")
	require.NoError(t, s.DB.WithTenant(ctx, tenant, func(tx *db.Tx) error {
		return tx.SaveTokens(ctx, vault.NewKeyRing(old), conn, db.Tokens{AccessToken: "a", RefreshToken: "r", TokenType: "Bearer"})
	}))
	env := configEnv(t, s.OwnerURL)
	env["POBLYSH_CRYPTO_KEY"] = newKey
	env["POBLYSH_CRYPTO_RETIRED_KEYS"] = oldKey
	return env
}

// A --batch below 1 is refused at once, naming the flag: 0 moved nothing
// per batch and so never ended, a negative one failed with Postgres' own
// LIMIT error and the advice to run it again. Nothing was moved: the
// run after it moves the connection.
func TestReencryptRefusesBatchBelowOne(t *testing.T) {
	t.Parallel()
	env := staleToken(t)
	getenv := envOf(env)
	for _, b := range []string{"0", "-5"} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		start := time.Now()
		var out, errOut bytes.Buffer
		err := run(ctx, []string{"reencrypt", "--batch", b}, getenv, &out, &errOut)
		cancel()
		require.Less(t, time.Since(start), 3*time.Second, "--batch %s is refused at once", b)
		require.EqualError(t, err, "reencrypt: --batch must be at least 1", "--batch %s", b)
		require.Empty(t, out.String())
	}
	var out, errOut bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"reencrypt", "--batch", "1"}, getenv, &out, &errOut))
	require.Contains(t, out.String(), "reencrypt: 1 connections, 0 pending authorizations and 0 hook secrets moved to key ")
}
