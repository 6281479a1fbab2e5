package vault_test

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/vault"
)

func mustKey(t *testing.T) vault.Key {
	t.Helper()
	k, err := vault.ParseKey(vault.GenerateKey())
	require.NoError(t, err)
	return k
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	kr := vault.NewKeyRing(mustKey(t))
	aad := vault.AAD("t1", "c1", "access_token")
	ct, err := kr.Encrypt([]byte("gho_secret_token"), aad)
	require.NoError(t, err)
	require.NotContains(t, ct, "gho_secret_token")
	require.True(t, strings.HasPrefix(ct, "pv1:"+kr.CurrentKeyID()+":"))
	pt, err := kr.Decrypt(ct, aad)
	require.NoError(t, err)
	require.Equal(t, "gho_secret_token", string(pt))

	// Random nonce: the same plaintext encrypts differently each time.
	ct2, err := kr.Encrypt([]byte("gho_secret_token"), aad)
	require.NoError(t, err)
	require.NotEqual(t, ct, ct2)
}

func TestTamperAndMisuseFail(t *testing.T) {
	t.Parallel()
	kr := vault.NewKeyRing(mustKey(t))
	aad := vault.AAD("t1", "c1", "access_token")
	ct, err := kr.Encrypt([]byte("token"), aad)
	require.NoError(t, err)

	flipped := []byte(ct)
	flipped[len(flipped)-3] ^= 0x01
	_, err = kr.Decrypt(string(flipped), aad)
	require.Error(t, err, "flipped ciphertext byte")

	_, err = kr.Decrypt(ct, vault.AAD("t1", "c2", "access_token"))
	require.ErrorIs(t, err, vault.ErrDecrypt, "moved to another connection")
	_, err = kr.Decrypt(ct, vault.AAD("t2", "c1", "access_token"))
	require.ErrorIs(t, err, vault.ErrDecrypt, "moved to another tenant")
	_, err = kr.Decrypt(ct, vault.AAD("t1", "c1", "refresh_token"))
	require.ErrorIs(t, err, vault.ErrDecrypt, "used for another purpose")

	other := vault.NewKeyRing(mustKey(t))
	_, err = other.Decrypt(ct, aad)
	require.ErrorIs(t, err, vault.ErrUnknownKey, "key not in ring")

	// Claiming another key id in the header fails authentication.
	k2 := mustKey(t)
	swapped := strings.Replace(ct, kr.CurrentKeyID(), k2.ID, 1)
	_, err = vault.NewKeyRing(k2).Decrypt(swapped, aad)
	require.ErrorIs(t, err, vault.ErrDecrypt)

	for _, bad := range []string{"", "pv1", "pv1::abc", "pv2:k1:AAAA", "pv1:" + kr.CurrentKeyID() + ":!!!", "pv1:" + kr.CurrentKeyID() + ":AAAA"} {
		_, err := kr.Decrypt(bad, aad)
		require.Error(t, err, bad)
	}
}

func TestRotation(t *testing.T) {
	t.Parallel()
	k1, k2 := mustKey(t), mustKey(t)
	aad := vault.AAD("t", "c", "refresh_token")
	old := vault.NewKeyRing(k1)
	ct, err := old.Encrypt([]byte("refresh"), aad)
	require.NoError(t, err)

	rotated := vault.NewKeyRing(k2, k1)
	require.True(t, rotated.NeedsRotation(ct))
	pt, err := rotated.Decrypt(ct, aad)
	require.NoError(t, err)
	require.Equal(t, "refresh", string(pt))

	ct2, changed, err := rotated.Reencrypt(ct, aad)
	require.NoError(t, err)
	require.True(t, changed)
	kid, err := vault.KeyIDOf(ct2)
	require.NoError(t, err)
	require.Equal(t, k2.ID, kid)

	again, changed, err := rotated.Reencrypt(ct2, aad)
	require.NoError(t, err)
	require.False(t, changed, "re-encrypting a current ciphertext is a no-op")
	require.Equal(t, ct2, again)

	// Once k1 is retired from the ring, the converted value still decrypts.
	retired := vault.NewKeyRing(k2)
	pt, err = retired.Decrypt(ct2, aad)
	require.NoError(t, err)
	require.Equal(t, "refresh", string(pt))
	_, err = retired.Decrypt(ct, aad)
	require.ErrorIs(t, err, vault.ErrUnknownKey)
}

func TestParseKey(t *testing.T) {
	t.Parallel()
	_, err := vault.ParseKey("c2hvcnQ=")
	require.ErrorContains(t, err, "32 bytes")
	_, err = vault.ParseKey("not base64 !!")
	require.Error(t, err)
	k, err := vault.ParseKey(vault.GenerateKey())
	require.NoError(t, err)
	require.Regexp(t, `^k[0-9a-f]{8}$`, k.ID)
}

func TestParseKeyEncodings(t *testing.T) {
	t.Parallel()
	raw := make([]byte, vault.KeySize)
	for i := range raw {
		raw[i] = byte(250 - i) // exercises the '+' '/' vs '-' '_' alphabets
	}
	want, err := vault.NewKey(raw)
	require.NoError(t, err)
	for name, enc := range map[string]*base64.Encoding{
		"std": base64.StdEncoding, "raw std": base64.RawStdEncoding, "url": base64.URLEncoding, "raw url": base64.RawURLEncoding,
	} {
		k, err := vault.ParseKey("  " + enc.EncodeToString(raw) + "\n")
		require.NoError(t, err, name)
		require.Equal(t, want.ID, k.ID, name)
	}
	for _, n := range []int{0, 16, 31, 33, 64} {
		_, err := vault.ParseKey(base64.StdEncoding.EncodeToString(make([]byte, n)))
		require.ErrorContains(t, err, "must be 32 bytes", "%d bytes", n)
	}
}

func TestKeyIDs(t *testing.T) {
	t.Parallel()
	a, b := make([]byte, vault.KeySize), make([]byte, vault.KeySize)
	b[0] = 1
	require.Equal(t, vault.KeyID(a), vault.KeyID(a), "ids derive from the key bytes")
	require.NotEqual(t, vault.KeyID(a), vault.KeyID(b))
	require.NotContains(t, vault.KeyID(a), "0000000000", "the id is a hash, not the key")

	// A ring built with a retired key equal to the current one keeps it once.
	k := mustKey(t)
	kr := vault.NewKeyRing(k, k)
	ct, err := kr.Encrypt([]byte("x"), nil)
	require.NoError(t, err)
	require.False(t, kr.NeedsRotation(ct))
	require.False(t, kr.NeedsRotation("not a ciphertext"), "malformed input is not reported as rotatable")
	_, _, err = kr.Reencrypt("not a ciphertext", nil)
	require.ErrorIs(t, err, vault.ErrMalformed)
	// Re-encrypting a current ciphertext still authenticates it.
	_, _, err = kr.Reencrypt(ct, []byte("other row"))
	require.ErrorIs(t, err, vault.ErrDecrypt)
}
