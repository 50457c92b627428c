package procmaps

import (
	"os"
	"path/filepath"
	"strconv"
)

// Alive reports whether process pid exists in the procfs mounted at
// procRoot. Looking in procRoot, not kill(pid, 0), is what works when the
// collector runs in a container with the host's procfs mounted elsewhere
// (its own pid namespace holds other processes under the same numbers).
func Alive(procRoot string, pid uint32) bool {
	_, err := os.Stat(filepath.Join(procRoot, strconv.FormatUint(uint64(pid), 10)))
	return err == nil
}
