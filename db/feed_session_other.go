//go:build !linux

package db

import "syscall"

// setUserTimeout does nothing where TCP_USER_TIMEOUT is not Linux's
// (keepalive alone then notices a silent server).
func setUserTimeout(string, string, syscall.RawConn) error { return nil }
