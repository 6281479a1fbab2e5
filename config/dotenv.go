package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/joho/godotenv"
)

// ReadDotEnv reads a .env file with godotenv: KEY=VALUE lines, # comments
// (also after an unquoted value, following a space), "export " prefixes,
// single quotes kept literally, double quotes with \n escapes and ${VAR}
// expansion of earlier keys (as in unquoted values). A missing file is not
// an error.
func ReadDotEnv(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, err
	}
	vals, err := godotenv.UnmarshalBytes(b)
	if err != nil {
		// godotenv's message quotes the rest of the file, secrets and all:
		// name only the line.
		return nil, fmt.Errorf("%s:%d: expected KEY=VALUE", path, badLine(b))
	}
	return vals, nil
}

// badLine is the line godotenv stumbles on: the one after the longest run
// of whole lines it reads (a quoted value may span lines, so the first
// prefix that fails is not necessarily where the mistake is). Reading the
// file again per line only happens for a broken file of a few dozen lines.
func badLine(b []byte) int {
	lines := bytes.SplitAfter(b, []byte("\n"))
	for n := len(lines) - 1; n > 0; n-- {
		if _, err := godotenv.UnmarshalBytes(bytes.Join(lines[:n], nil)); err == nil {
			return n + 1
		}
	}
	return 1
}

// Overlay returns a getenv that prefers the process environment and falls
// back to values from a .env file. lookup is os.LookupEnv's shape: a
// variable set in the environment wins even when set empty, so
// `POBLYSH_CRYPTO_RETIRED_KEYS=` empties the retired keys a .env still
// lists; only a variable not set at all is read from the file.
func Overlay(lookup func(string) (string, bool), file map[string]string) func(string) string {
	return func(k string) string {
		if v, ok := lookup(k); ok {
			return v
		}
		return file[k]
	}
}
