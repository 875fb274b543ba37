package audit

import (
	"fmt"
	"os/exec"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/pangate/pangate/schemas"
)

// ClockFacts reports the time source and its sync state for gateway.started (PCI DSS 10.6), best effort:
// the kernel's NTP state through adjtimex, and timedatectl's NTP service when present.
func ClockFacts() schemas.Clock {
	c := schemas.Clock{Source: "system"}
	var tx unix.Timex
	state, err := unix.Adjtimex(&tx)
	if err != nil {
		c.Detail = "adjtimex unavailable: " + err.Error()
		return c
	}
	c.Synced = state != unix.TIME_ERROR && tx.Status&unix.STA_UNSYNC == 0
	off := tx.Offset
	if tx.Status&unix.STA_NANO != 0 {
		off /= 1000
	}
	c.OffsetUS = off
	c.Detail = fmt.Sprintf("adjtimex state=%d status=%#x maxerror=%dus esterror=%dus", state, tx.Status, tx.Maxerror, tx.Esterror)
	if out, err := exec.Command("timedatectl", "show", "-p", "NTP", "-p", "NTPSynchronized").Output(); err == nil {
		s := strings.Join(strings.Fields(string(out)), " ")
		c.Detail += "; timedatectl " + s
		if strings.Contains(s, "NTP=yes") {
			c.Source = "ntp (systemd-timesyncd or chrony)"
		}
	}
	return c
}
