package zohocliq

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"strings"
)

// publicKey is one RSA key bot calls may be signed with.
type publicKey = *rsa.PublicKey

// parsePublicKeys reads POBLYSH_ZOHO_CLIQ_PUBLIC_KEY: one or more PEM
// blocks ("PUBLIC KEY", PKIX; or "RSA PUBLIC KEY", PKCS#1), or the bare
// base64 body Cliq shows for an extension, several separated by commas.
// Several keys let one deployment serve bots of several extensions.
func parsePublicKeys(v string) ([]publicKey, error) {
	v = strings.TrimSpace(strings.ReplaceAll(v, `\n`, "\n"))
	if v == "" {
		return nil, nil
	}
	var ders [][]byte
	if strings.Contains(v, "-----BEGIN") {
		rest := []byte(v)
		for {
			var b *pem.Block
			b, rest = pem.Decode(rest)
			if b == nil {
				break
			}
			ders = append(ders, b.Bytes)
		}
	} else {
		for _, part := range strings.Split(v, ",") {
			raw, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(part), ""))
			if err != nil {
				return nil, errors.New("not PEM, and not base64")
			}
			ders = append(ders, raw)
		}
	}
	if len(ders) == 0 {
		return nil, errors.New("no PEM block found")
	}
	var out []publicKey
	for _, der := range ders {
		if k, err := x509.ParsePKIXPublicKey(der); err == nil {
			rk, ok := k.(*rsa.PublicKey)
			if !ok {
				return nil, errors.New("the key is not an RSA key")
			}
			out = append(out, rk)
			continue
		}
		rk, err := x509.ParsePKCS1PublicKey(der)
		if err != nil {
			return nil, errors.New("not an RSA public key (PKIX or PKCS#1)")
		}
		out = append(out, rk)
	}
	return out, nil
}

// verifySignature checks X-Cliq-Signature, base64 RSA-SHA256 (PKCS #1
// v1.5) of the body, against every configured key. Zoho's samples verify
// JSON.stringify of the parsed body, which is the body Cliq sends (compact
// JSON); the exact bytes received are verified here, so not even
// whitespace can be changed. Zoho documents the scheme only through those
// samples.
func verifySignature(keys []publicKey, sig string, body []byte) bool {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(sig))
	if err != nil {
		if raw, err = base64.RawURLEncoding.DecodeString(strings.TrimRight(strings.TrimSpace(sig), "=")); err != nil {
			return false
		}
	}
	sum := sha256.Sum256(body)
	for _, k := range keys {
		if rsa.VerifyPKCS1v15(k, crypto.SHA256, sum[:], raw) == nil {
			return true
		}
	}
	return false
}
