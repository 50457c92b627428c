package loader

import (
	"reflect"
	"testing"
)

func TestParseCPUList(t *testing.T) {
	got, err := ParseCPUList("0-2,5\n")
	if err != nil || !reflect.DeepEqual(got, []int{0, 1, 2, 5}) {
		t.Fatalf("got %v %v", got, err)
	}
	for _, bad := range []string{"", "x", "3-1", "1-y"} {
		if _, err := ParseCPUList(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if cpus, err := OnlineCPUs(); err != nil || len(cpus) == 0 {
		t.Fatalf("online cpus: %v %v", cpus, err)
	}
}
