package loader

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/features"
	"golang.org/x/sys/unix"
)

// Feature is a kernel capability the probe sets use when the kernel has it,
// found by trying it (feature probing), never by comparing versions:
// distributions backport features, and their kernels' versions lie.
type Feature struct {
	// Name is how logs, health metrics and tests name the feature.
	Name string
	// Since is the first upstream kernel with the feature.
	Since string
	// Without says what the receiver does on a kernel that lacks it.
	Without string
	probe   func(*probeEnv) error
}

// Kernel features, in the order they are reported.
var (
	FeatureBTF = Feature{"btf", "5.4",
		"nothing loads: every program is compiled once (CO-RE) and relocated against the kernel's BTF", haveBTF}
	FeatureTPBTF = Feature{"tp_btf", "5.5",
		"off-CPU attaches a raw tracepoint and keeps thread state in a hash map; the tcp set does not start", haveTPBTF}
	FeatureTaskStorage = Feature{"task_storage", "5.11",
		"off-CPU keeps thread state in a hash map; the syscalls and memory sets do not start", haveTaskStorage}
	FeatureRingBuf = Feature{"ringbuf", "5.8",
		"the tcp set (connection events) does not start", haveRingBuf}
	FeatureBPFLoop = Feature{"bpf_loop", "5.17",
		"the CFI unwinder (unwinder: cfi, the default) walks each frame in a bpf_loop callback and cannot load; every supported kernel (6.1+) has it", haveBPFLoop}
	FeatureCookie = Feature{"cookie", "5.15",
		"nothing by itself: only memory's session program reads cookies, and sessions (6.13) imply them", haveCookie}
	FeatureUprobeMulti = Feature{"uprobe_multi", "6.6",
		"nothing by itself: memory's session link is a uprobe_multi link (6.13); without sessions it attaches a link per function either way", haveUprobeMulti}
	FeatureUprobeSession = Feature{"uprobe_session", "6.13",
		"memory attaches a uprobe and a uretprobe per function (every call returns through a trap)", haveUprobeSession}
	FeatureTCPResetNoSocket = Feature{"tcp_reset_no_socket", "6.10",
		"resets the kernel sends for ports without a socket are not counted (tcp.resets_sent)", haveTCPResetNoSocket}
)

// AllFeatures lists every feature the receiver probes.
var AllFeatures = []Feature{FeatureBTF, FeatureTPBTF, FeatureTaskStorage, FeatureRingBuf,
	FeatureBPFLoop, FeatureCookie, FeatureUprobeMulti, FeatureUprobeSession, FeatureTCPResetNoSocket}

// Features is what a kernel offers: one entry per AllFeatures element.
type Features struct {
	have []bool
}

// Has reports whether the kernel offers f.
func (fs Features) Has(f Feature) bool {
	for i, g := range AllFeatures {
		if g.Name == f.Name {
			return i < len(fs.have) && fs.have[i]
		}
	}
	return false
}

// Missing returns the names of the features the kernel lacks.
func (fs Features) Missing() []string {
	var out []string
	for i, f := range AllFeatures {
		if i >= len(fs.have) || !fs.have[i] {
			out = append(out, f.Name)
		}
	}
	return out
}

// String is "btf=yes tp_btf=yes ... uprobe_session=no", for the log.
func (fs Features) String() string {
	var b strings.Builder
	for i, f := range AllFeatures {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(f.Name)
		if fs.Has(f) {
			b.WriteString("=yes")
		} else {
			b.WriteString("=no")
		}
	}
	return b.String()
}

var probed struct {
	once sync.Once
	fs   Features
	err  error
}

// ProbeFeatures tries each feature once per process and returns what the
// kernel offers. It fails only when probing itself is refused (missing
// privilege), never because a feature is absent.
func ProbeFeatures() (Features, error) {
	probed.once.Do(func() { probed.fs, probed.err = probeAll(AllFeatures) })
	return probed.fs, probed.err
}

func probeAll(list []Feature) (Features, error) {
	fs := Features{have: make([]bool, len(list))}
	env := &probeEnv{kernelTypes: sync.OnceValues(btf.LoadKernelSpec)}
	for i, f := range list {
		err := f.probe(env)
		switch {
		case err == nil:
			fs.have[i] = true
		case errors.Is(err, ebpf.ErrNotSupported):
		case errors.Is(err, os.ErrPermission):
			return Features{}, Explain("probing kernel feature "+f.Name, err)
		default:
			return Features{}, fmt.Errorf("probing kernel feature %s: %w", f.Name, err)
		}
	}
	return fs, nil
}

// notSupported marks err as the kernel lacking a feature.
func notSupported(what string, err error) error {
	return fmt.Errorf("%s: %w (%w)", what, ebpf.ErrNotSupported, err)
}

// probeEnv is what the probes of one ProbeFeatures call share.
type probeEnv struct {
	// kernelTypes is the kernel's BTF, loaded once for the probes that
	// read it (btf.LoadKernelSpec hands out copies, each of which would
	// index the kernel's types anew: most of probing's cost), and dropped
	// with the env so the receiver does not keep it.
	kernelTypes func() (*btf.Spec, error)
}

func haveBTF(env *probeEnv) error {
	if _, err := env.kernelTypes(); err != nil {
		return notSupported("loading kernel BTF", err)
	}
	return nil
}

// haveTPBTF loads an empty program on the sched_switch BTF tracepoint,
// which both the verifier's tp_btf support and the kernel's BTF decide.
func haveTPBTF(env *probeEnv) error {
	spec, err := env.kernelTypes()
	if err != nil {
		return notSupported("loading kernel BTF", err)
	}
	p, err := ebpf.NewProgramWithOptions(&ebpf.ProgramSpec{
		Type:         ebpf.Tracing,
		AttachType:   ebpf.AttachTraceRawTp,
		AttachTo:     "sched_switch",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()},
		License:      "GPL",
	}, ebpf.ProgramOptions{KernelTypes: spec})
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			return err
		}
		return notSupported("loading a tp_btf program", err)
	}
	return p.Close()
}

func haveTaskStorage(*probeEnv) error { return features.HaveMapType(ebpf.TaskStorage) }
func haveRingBuf(*probeEnv) error     { return features.HaveMapType(ebpf.RingBuf) }
func haveBPFLoop(*probeEnv) error     { return features.HaveProgramHelper(ebpf.PerfEvent, asm.FnLoop) }
func haveCookie(*probeEnv) error {
	return features.HaveProgramHelper(ebpf.Kprobe, asm.FnGetAttachCookie)
}
func haveUprobeMulti(*probeEnv) error { return features.HaveBPFLinkUprobeMulti() }

// AttachTraceUprobeSession is BPF_TRACE_UPROBE_SESSION (Linux 6.13), which
// cilium/ebpf v0.22 loads programs for (section "uprobe.session") but
// cannot attach: LinkCreateUprobeMulti creates the link.
const AttachTraceUprobeSession = 57

// haveUprobeSession creates a uprobe session link on "/", as cilium/ebpf
// probes uprobe_multi: a kernel with sessions rejects the path (EBADF, not
// an executable), one without rejects the attach type (EINVAL).
func haveUprobeSession(*probeEnv) error {
	p, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:         ebpf.Kprobe,
		AttachType:   AttachTraceUprobeSession,
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()},
		License:      "GPL",
	})
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			return err
		}
		return notSupported("loading a uprobe session program", err)
	}
	defer func() { _ = p.Close() }()
	fd, err := LinkCreateUprobeMulti(p, AttachTraceUprobeSession, "/", []uint64{0}, nil, 0)
	switch {
	case errors.Is(err, unix.EBADF):
		return nil
	case errors.Is(err, unix.EINVAL):
		return notSupported("creating a uprobe session link", err)
	case err != nil:
		return err
	}
	_ = unix.Close(fd)
	return errors.New("a uprobe session attached to /")
}

// linkCreateUprobeMulti is union bpf_attr's link_create for uprobe_multi.
type linkCreateUprobeMulti struct {
	progFD, targetFD, attachType, flags uint32
	path, offsets, refCtrOffsets        uint64
	cookies                             uint64
	cnt, multiFlags, pid                uint32
	_                                   uint32
}

// LinkCreateUprobeMulti creates a uprobe_multi link of attachType (uprobe
// multi or session) for prog at the file offsets offs of path, with one
// cookie per offset (or none), for process pid (0: every process), and
// returns its file descriptor, which the caller owns.
func LinkCreateUprobeMulti(prog *ebpf.Program, attachType uint32, path string, offs, cookies []uint64, pid uint32) (int, error) {
	if len(offs) == 0 || (cookies != nil && len(cookies) != len(offs)) {
		return -1, fmt.Errorf("uprobe multi link: %d offsets, %d cookies", len(offs), len(cookies))
	}
	cpath, err := unix.BytePtrFromString(path)
	if err != nil {
		return -1, err
	}
	attr := linkCreateUprobeMulti{
		progFD:     uint32(prog.FD()), //nolint:gosec // G115: file descriptors fit in 32 bits
		attachType: attachType,
		path:       uint64(uintptr(unsafe.Pointer(cpath))),    //nolint:gosec // G103: bpf(2) takes user pointers; KeepAlive below holds them
		offsets:    uint64(uintptr(unsafe.Pointer(&offs[0]))), //nolint:gosec // G103: bpf(2) takes user pointers; KeepAlive below holds them
		cnt:        uint32(len(offs)),                         //nolint:gosec // G115: a handful of functions per file
		pid:        pid,
	}
	if cookies != nil {
		attr.cookies = uint64(uintptr(unsafe.Pointer(&cookies[0]))) //nolint:gosec // G103: bpf(2) takes user pointers; KeepAlive below holds them
	}
	fd, _, errno := unix.Syscall(unix.SYS_BPF, unix.BPF_LINK_CREATE, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr)) //nolint:gosec // G103: bpf(2) takes user pointers; KeepAlive below holds them
	runtime.KeepAlive(cpath)
	runtime.KeepAlive(offs)
	runtime.KeepAlive(cookies)
	if errno != 0 {
		return -1, errno
	}
	return int(fd), nil
}

// haveTCPResetNoSocket reports whether the tcp_send_reset tracepoint fires
// for resets sent without a socket (a closed port): since 6.10 its
// prototype carries the reset reason, and tcp_v4_send_reset traces every
// reset (the socket-less case arrived in 6.9, without a mark in BTF, so a
// 6.9 kernel is reported as lacking it).
func haveTCPResetNoSocket(env *probeEnv) error {
	spec, err := env.kernelTypes()
	if err != nil {
		return notSupported("loading kernel BTF", err)
	}
	var td *btf.Typedef
	if err := spec.TypeByName("btf_trace_tcp_send_reset", &td); err != nil {
		return notSupported("finding the tcp_send_reset tracepoint", err)
	}
	ptr, ok := td.Type.(*btf.Pointer)
	if !ok {
		return fmt.Errorf("btf_trace_tcp_send_reset is a %T, not a function pointer", td.Type)
	}
	proto, ok := ptr.Target.(*btf.FuncProto)
	if !ok {
		return fmt.Errorf("btf_trace_tcp_send_reset points to a %T, not a function", ptr.Target)
	}
	// (void *ctx, sk, skb) before 6.10; (ctx, sk, skb, reason) since.
	if len(proto.Params) < 4 {
		return notSupported("tcp_send_reset without a reset reason", errors.New("pre-6.10 prototype"))
	}
	return nil
}

// Require probes the kernel and returns what it offers, or an error naming
// the first of need it lacks for what ("starting the tcp set") and the
// kernel version that brought it, wrapping ebpf.ErrNotSupported.
func Require(what string, need ...Feature) (Features, error) {
	fs, err := ProbeFeatures()
	if err != nil {
		return fs, fmt.Errorf("%s: %w", what, err)
	}
	for _, f := range need {
		if !fs.Has(f) {
			return fs, fmt.Errorf("%s: the kernel lacks %s (Linux %s): %w", what, f.Name, f.Since, ebpf.ErrNotSupported)
		}
	}
	return fs, nil
}
