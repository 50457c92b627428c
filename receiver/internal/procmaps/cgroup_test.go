package procmaps

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

const (
	cid  = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	cid2 = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
)

func TestContainerIDFromCgroup(t *testing.T) {
	tests := []struct {
		name, path, want string
	}{
		{"root", "/", ""},
		{"empty", "", ""},
		{"host service", "/system.slice/sshd.service", ""},
		{"user session", "/user.slice/user-1000.slice/session-2.scope", ""},
		{"docker systemd", "/system.slice/docker-" + cid + ".scope", cid},
		{"docker cgroupfs", "/docker/" + cid, cid},
		{"containerd systemd", "/system.slice/cri-containerd-" + cid + ".scope", cid},
		{"crio", "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1234_5678.slice/crio-" + cid + ".scope", cid},
		{"crio conmon is not a container", "/kubepods.slice/kubepods-pod1.slice/crio-conmon-" + cid + ".scope", ""},
		{"podman", "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" + cid + ".scope", cid},
		{"podman conmon", "/machine.slice/libpod-conmon-" + cid + ".scope", ""},
		{"kubepods cgroupfs", "/kubepods/burstable/pod7e6a1d3c-8b8f-4c1e-9a43-0d7b0c5e1a2b/" + cid, cid},
		{
			"kubepods systemd",
			"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod7e6a1d3c_8b8f_4c1e_9a43_0d7b0c5e1a2b.slice/cri-containerd-" + cid + ".scope",
			cid,
		},
		{"systemd inside container", "/system.slice/docker-" + cid + ".scope/init.scope", cid},
		{"nested picks innermost", "/docker/" + cid + "/docker/" + cid2, cid2},
		{"ecs", "/ecs/8f0e9f1f5d3c4b2a9e8d7c6b5a4f3e2d/" + cid, cid},
		{"relative", cid, cid},
		{"upper case rejected", "/docker/" + strings.ToUpper(cid), ""},
		{"short id", "/docker/" + cid[:63], ""},
		{"long id", "/docker/" + cid + "0", ""},
		{"non-hex", "/docker/" + cid[:63] + "g", ""},
		{"unknown runtime prefix", "/system.slice/rkt-" + cid + ".scope", ""},
		{"prefix without scope", "/system.slice/docker-" + cid, ""},
		{"trailing slash", "/docker/" + cid + "/", cid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ContainerIDFromCgroup(tt.path); got != tt.want {
				t.Errorf("ContainerIDFromCgroup(%q) = %q, want %q", tt.path, got, tt.want)
			}
		})
	}
}

func TestParseCgroupFile(t *testing.T) {
	tests := []struct {
		name, input string
		want        string
		all         []string
	}{
		{"v2", "0::/system.slice/docker-" + cid + ".scope\n", "/system.slice/docker-" + cid + ".scope", nil},
		{
			"v1",
			"12:pids:/docker/" + cid + "\n11:memory:/docker/" + cid + "\n1:name=systemd:/docker/" + cid + "\n",
			"/docker/" + cid,
			[]string{"/docker/" + cid, "/docker/" + cid, "/docker/" + cid},
		},
		{
			"hybrid prefers unified",
			"9:name=systemd:/\n4:memory:/process_api/x\n0::/init.scope\n",
			"/init.scope",
			[]string{"/init.scope", "/", "/process_api/x"},
		},
		{"path with colon", "0::/weird:path\n", "/weird:path", nil},
		{"blank lines and no newline", "\n0::/a", "/a", nil},
		{"v1 without unified", "5:cpu,cpuacct:/foo\n0:other:/bar\n", "/foo", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCgroupFile(strings.NewReader(tt.input))
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
			if tt.all != nil {
				all, err := parseCgroupPaths(strings.NewReader(tt.input))
				if err != nil || !reflect.DeepEqual(all, tt.all) {
					t.Errorf("parseCgroupPaths = %q, %v; want %q", all, err, tt.all)
				}
			}
		})
	}
}

func TestParseCgroupFileErrors(t *testing.T) {
	for _, input := range []string{"", "\n\n", "0:/a\n", "garbage", ":cpu:/a", "x:cpu:/a", "0::/a\nbad\n"} {
		if _, err := ParseCgroupFile(strings.NewReader(input)); !errors.Is(err, ErrMalformedCgroup) {
			t.Errorf("ParseCgroupFile(%q): got %v, want ErrMalformedCgroup", input, err)
		}
	}
	boom := errors.New("boom")
	if _, err := ParseCgroupFile(iotest.ErrReader(boom)); !errors.Is(err, boom) {
		t.Errorf("read error: got %v, want boom", err)
	}
}
