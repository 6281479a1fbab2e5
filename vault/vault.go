// Package vault encrypts secrets at rest (OAuth tokens, PKCE verifiers) with
// AES-256-GCM. A KeyRing has one current key for encryption and any number of
// retired keys accepted for decryption. Every ciphertext names its key and is
// bound to its row by additional authenticated data, so a ciphertext copied to
// another row, tampered with, or decrypted with the wrong key fails loudly.
package vault

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// KeySize is the AES-256 key length in bytes.
const KeySize = 32

// prefix versions the ciphertext format: "pv1:<key id>:<base64(nonce|sealed)>".
const prefix = "pv1"

// Errors returned by Decrypt. Messages never include key or plaintext bytes.
var (
	ErrMalformed  = errors.New("vault: malformed ciphertext")
	ErrUnknownKey = errors.New("vault: ciphertext was encrypted with a key that is not in the key ring")
	ErrDecrypt    = errors.New("vault: ciphertext failed authentication (tampered, moved to another row, or wrong key)")
)

// UnknownKeyError is ErrUnknownKey naming the key id the ciphertext
// carries, so an operator knows which key to put back in the ring.
type UnknownKeyError struct{ KeyID string }

func (e *UnknownKeyError) Error() string { return ErrUnknownKey.Error() + " (key id " + e.KeyID + ")" }

// Unwrap makes errors.Is(err, ErrUnknownKey) true.
func (e *UnknownKeyError) Unwrap() error { return ErrUnknownKey }

// Key is one AES-256 key with its id.
type Key struct {
	ID   string
	aead cipher.AEAD
}

// KeyID derives a key's id from its bytes: "k" + 8 hex chars of SHA-256 over
// a domain-separated input. Operators then only manage key material.
func KeyID(raw []byte) string {
	sum := sha256.Sum256(append([]byte("poblysh-vault-key-id:"), raw...))
	return "k" + hex.EncodeToString(sum[:4])
}

// NewKey builds a key from 32 raw bytes.
func NewKey(raw []byte) (Key, error) {
	if len(raw) != KeySize {
		return Key{}, fmt.Errorf("vault: key must be %d bytes, got %d", KeySize, len(raw))
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		return Key{}, fmt.Errorf("vault: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return Key{}, fmt.Errorf("vault: %w", err)
	}
	return Key{ID: KeyID(raw), aead: aead}, nil
}

// ParseKey decodes a base64 (standard or URL, padded or not) 32-byte key.
func ParseKey(s string) (Key, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if raw, err := enc.DecodeString(s); err == nil {
			return NewKey(raw)
		}
	}
	return Key{}, errors.New("vault: key is not valid base64")
}

// GenerateKey returns a new random key, base64 encoded.
func GenerateKey() string {
	raw := make([]byte, KeySize)
	if _, err := rand.Read(raw); err != nil {
		panic("vault: crypto/rand failed: " + err.Error())
	}
	return base64.StdEncoding.EncodeToString(raw)
}

// KeyRing holds the current key and retired keys.
type KeyRing struct {
	current Key
	keys    map[string]Key
}

// NewKeyRing builds a ring; retired keys decrypt only.
func NewKeyRing(current Key, retired ...Key) *KeyRing {
	kr := &KeyRing{current: current, keys: map[string]Key{current.ID: current}}
	for _, k := range retired {
		if _, dup := kr.keys[k.ID]; !dup {
			kr.keys[k.ID] = k
		}
	}
	return kr
}

// CurrentKeyID is the id new ciphertexts carry.
func (kr *KeyRing) CurrentKeyID() string { return kr.current.ID }

// AAD binds a ciphertext to its row: tenant, owning object and purpose.
func AAD(tenantID, objectID, purpose string) []byte {
	return []byte("poblysh/v1|tenant=" + tenantID + "|object=" + objectID + "|purpose=" + purpose)
}

// Encrypt seals plaintext under the current key with a random 96-bit nonce.
func (kr *KeyRing) Encrypt(plaintext, aad []byte) (string, error) {
	nonce := make([]byte, kr.current.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("vault: nonce: %w", err)
	}
	// The key id is authenticated too, so it cannot be swapped.
	sealed := kr.current.aead.Seal(nonce, nonce, plaintext, withKeyID(aad, kr.current.ID))
	return prefix + ":" + kr.current.ID + ":" + base64.RawStdEncoding.EncodeToString(sealed), nil
}

// Decrypt opens a ciphertext with the key it names.
func (kr *KeyRing) Decrypt(ciphertext string, aad []byte) ([]byte, error) {
	kid, sealed, err := split(ciphertext)
	if err != nil {
		return nil, err
	}
	k, ok := kr.keys[kid]
	if !ok {
		return nil, &UnknownKeyError{KeyID: kid}
	}
	ns := k.aead.NonceSize()
	if len(sealed) < ns+k.aead.Overhead() {
		return nil, ErrMalformed
	}
	pt, err := k.aead.Open(nil, sealed[:ns], sealed[ns:], withKeyID(aad, kid))
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}

// KeyIDOf returns the key id a ciphertext names.
func KeyIDOf(ciphertext string) (string, error) {
	kid, _, err := split(ciphertext)
	return kid, err
}

// NeedsRotation reports whether a ciphertext is under a key other than current.
func (kr *KeyRing) NeedsRotation(ciphertext string) bool {
	kid, err := KeyIDOf(ciphertext)
	return err == nil && kid != kr.current.ID
}

// Reencrypt decrypts with whatever key the ciphertext names and seals it
// again under the current key. It returns the input unchanged when it is
// already current.
func (kr *KeyRing) Reencrypt(ciphertext string, aad []byte) (string, bool, error) {
	if !kr.NeedsRotation(ciphertext) {
		if _, err := kr.Decrypt(ciphertext, aad); err != nil {
			return "", false, err
		}
		return ciphertext, false, nil
	}
	pt, err := kr.Decrypt(ciphertext, aad)
	if err != nil {
		return "", false, err
	}
	out, err := kr.Encrypt(pt, aad)
	clear(pt)
	return out, err == nil, err
}

func split(ciphertext string) (string, []byte, error) {
	parts := strings.SplitN(ciphertext, ":", 3)
	if len(parts) != 3 || parts[0] != prefix || parts[1] == "" {
		return "", nil, ErrMalformed
	}
	sealed, err := base64.RawStdEncoding.DecodeString(parts[2])
	if err != nil {
		return "", nil, ErrMalformed
	}
	return parts[1], sealed, nil
}

func withKeyID(aad []byte, kid string) []byte {
	out := make([]byte, 0, len(aad)+len(kid)+5)
	out = append(out, aad...)
	out = append(out, "|kid="...)
	return append(out, kid...)
}
