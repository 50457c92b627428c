package syscallnames

import "testing"

func TestNames(t *testing.T) {
	amd64, ok := ForArch("amd64")
	if !ok {
		t.Fatal("no amd64 table")
	}
	arm64, _ := ForArch("arm64")
	for _, c := range []struct {
		t    Table
		nr   uint32
		want string
	}{
		{amd64, 0, "read"}, {amd64, 257, "openat"}, {amd64, 309, "getcpu"},
		{arm64, 56, "openat"}, {arm64, 168, "getcpu"}, {amd64, 100000, "syscall_100000"},
	} {
		if got := c.t.Name(c.nr); got != c.want {
			t.Errorf("Name(%d) = %q, want %q", c.nr, got, c.want)
		}
	}
	if _, ok := ForArch("mips"); ok {
		t.Error("mips table exists")
	}
	if Native().Name(0) == "" {
		t.Error("no native table")
	}
	for n, want := range map[uint32]string{2: "ENOENT", 13: "EACCES", 512: "ERESTARTSYS", 4000: "errno_4000"} {
		if got := Errno(n); got != want {
			t.Errorf("Errno(%d) = %q, want %q", n, got, want)
		}
	}
}
