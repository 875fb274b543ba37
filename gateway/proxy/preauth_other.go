//go:build !unix

package proxy

import "net"

// hasPendingBytes cannot peek here: every connection whose first bytes were not read yet counts as idle.
func hasPendingBytes(net.Conn) bool { return false }
