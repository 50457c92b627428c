//go:build linux

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.opentelemetry.io/collector/pdata/pprofile"
	"google.golang.org/protobuf/encoding/protowire"
)

// startFlags are scripts/start.sh's node flags and settings for the sidecar
// (its memory budget, young generation, top tier); keep them in step. Node
// takes the last of a repeated flag: -a-flags / -b-flags override these.
var startFlags = []string{
	"--max-old-space-size=64", "--min-semi-space-size=8", "--max-semi-space-size=8",
	"--no-allocation-site-pretenuring", "--max-opt=2",
}

// interval is what the collector sent the sidecar for one batch.
type interval struct{ sym, agg []byte }

type sidecar struct {
	name   string
	cmd    *exec.Cmd
	client *http.Client
	dir    string
	// cpu and main are nanoseconds on CPU per round (all threads, main thread).
	cpu, main []time.Duration
	// rpc is the wall time of each RPC kind summed per round.
	symWall, aggWall []time.Duration
	// intervals replayed, and those whose Symbolize answer pdata marshalled again to the same bytes.
	intervals, remarshalSame int
}

func replay(args []string) error {
	fs := newFlags("replay")
	in := fs.String("in", "build/replay", "directory written by record")
	a := fs.String("a", "", "the old sidecar's dist/main.js (e.g. a clone of main's processor-ts/dist/main.js)")
	b := fs.String("b", "processor-ts/dist/main.js", "the new sidecar's dist/main.js")
	aFlags := fs.String("a-flags", "", "extra node flags for a (after start.sh's)")
	bFlags := fs.String("b-flags", "", "extra node flags for b (after start.sh's)")
	rounds := fs.Int("rounds", 8, "times the recorded intervals are replayed (the first is reported apart: cold caches)")
	_ = fs.Parse(args)
	if *a == "" {
		return errors.New("-a: give the old sidecar's dist/main.js")
	}
	ivs, err := load(*in)
	if err != nil {
		return err
	}
	if len(ivs) == 0 {
		return fmt.Errorf("%s: no Symbolize + Aggregate pairs recorded", *in)
	}
	tmp, err := os.MkdirTemp("", "sidecarreplay-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	sides := make([]*sidecar, 2)
	for i, s := range []struct{ name, main, flags string }{{"a", *a, *aFlags}, {"b", *b, *bFlags}} {
		if sides[i], err = startSidecar(tmp, s.name, s.main, strings.Fields(s.flags)); err != nil {
			return err
		}
		defer sides[i].stop()
	}
	var payload int
	for _, iv := range ivs {
		payload += len(iv.sym)
	}
	fmt.Printf("replaying %d intervals (%d KB of Symbolize requests) x %d rounds; a = %s %s, b = %s %s; load average %s\n",
		len(ivs), payload/1000, *rounds, *a, *aFlags, *b, *bFlags, loadAverage())
	same, differ := 0, 0
	for r := 0; r < *rounds; r++ {
		order := []*sidecar{sides[0], sides[1]}
		if r%2 == 1 {
			order[0], order[1] = order[1], order[0]
		}
		before := map[*sidecar][2]time.Duration{}
		for _, s := range order {
			all, main := s.schedCPU()
			before[s] = [2]time.Duration{all, main}
			s.symWall, s.aggWall = append(s.symWall, 0), append(s.aggWall, 0)
		}
		for _, iv := range ivs {
			var answers [][2][]byte
			for _, s := range order {
				sym, agg, err := s.interval(iv)
				if err != nil {
					return fmt.Errorf("sidecar %s: %w", s.name, err)
				}
				answers = append(answers, [2][]byte{sym, agg})
			}
			if bytes.Equal(answers[0][0], answers[1][0]) && bytes.Equal(answers[0][1], answers[1][1]) {
				same++
			} else {
				differ++
			}
		}
		// Let V8's concurrent workers finish what the round started.
		time.Sleep(300 * time.Millisecond)
		for _, s := range order {
			all, main := s.schedCPU()
			s.cpu = append(s.cpu, all-before[s][0])
			s.main = append(s.main, main-before[s][1])
		}
	}
	fmt.Printf("\n%-7s %s\n", "round", "CPU ms a round: a (main + others) | b (main + others) | b/a")
	for r := range *rounds {
		fmt.Printf("%-7d %6.0f (%4.0f + %4.0f) | %6.0f (%4.0f + %4.0f) | %.2f\n", r+1,
			ms(sides[0].cpu[r]), ms(sides[0].main[r]), ms(sides[0].cpu[r]-sides[0].main[r]),
			ms(sides[1].cpu[r]), ms(sides[1].main[r]), ms(sides[1].cpu[r]-sides[1].main[r]),
			float64(sides[1].cpu[r])/float64(sides[0].cpu[r]))
	}
	if *rounds > 1 {
		ma, mb := mean(sides[0].cpu[1:]), mean(sides[1].cpu[1:])
		fmt.Printf("\nrounds 2-%d, mean CPU a round: a %.0f ms (main %.0f), b %.0f ms (main %.0f): b/a %.3f (%+.1f %%)\n",
			*rounds, ms(ma), ms(mean(sides[0].main[1:])), ms(mb), ms(mean(sides[1].main[1:])), float64(mb)/float64(ma), 100*(float64(mb)/float64(ma)-1))
		fmt.Printf("per interval: a %.1f ms, b %.1f ms; wall of Symbolize / Aggregate a round: a %.0f / %.0f ms, b %.0f / %.0f ms\n",
			ms(ma)/float64(len(ivs)), ms(mb)/float64(len(ivs)),
			ms(mean(sides[0].symWall[1:])), ms(mean(sides[0].aggWall[1:])), ms(mean(sides[1].symWall[1:])), ms(mean(sides[1].aggWall[1:])))
	}
	for _, s := range sides {
		rss, hwm := memory(s.cmd.Process.Pid)
		fmt.Printf("sidecar %s: RSS %d MiB (peak %d MiB); its Symbolize answers marshalled again by pdata to the same bytes: %d of %d\n",
			s.name, rss>>20, hwm>>20, s.remarshalSame, s.intervals)
	}
	fmt.Printf("answers identical (profile ids aside): %d of %d intervals\n", same, same+differ)
	if differ > 0 {
		return fmt.Errorf("%d answers differ between a and b", differ)
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

func mean(ds []time.Duration) time.Duration {
	var t time.Duration
	for _, d := range ds {
		t += d
	}
	return t / time.Duration(len(ds))
}

// load pairs each recorded Symbolize request with the Aggregate request that followed it.
func load(dir string) ([]interval, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.bin"))
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var out []interval
	var sym []byte
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			return nil, err
		}
		switch {
		case strings.HasSuffix(n, "-Symbolize.bin"):
			sym = b
		case strings.HasSuffix(n, "-Aggregate.bin") && sym != nil:
			out = append(out, interval{sym, b})
			sym = nil
		}
	}
	return out, nil
}

func startSidecar(tmp, name, mainJS string, extra []string) (*sidecar, error) {
	dir := filepath.Join(tmp, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	sock := filepath.Join(dir, "sidecar.sock")
	args := append(slices.Clone(startFlags), extra...)
	args = append(args, mainJS, "serve", "--listen", "127.0.0.1:0", "--unix", sock, "--cache-bytes", "33554432",
		"--flamegraph-bytes", "8388608", "--pprof-dir", filepath.Join(dir, "pprof"))
	cmd := exec.Command("node", args...)
	cmd.Env = append(os.Environ(), "MALLOC_ARENA_MAX=2", "MALLOC_MMAP_THRESHOLD_=16384")
	logf, err := os.Create(filepath.Join(dir, "sidecar.log"))
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &sidecar{name: name, cmd: cmd, client: h2cClient(sock), dir: dir}
	for range 100 {
		if _, err := os.Stat(sock); err == nil {
			return s, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.stop()
	log, _ := os.ReadFile(logf.Name())
	return nil, fmt.Errorf("sidecar %s did not come up: %s", name, log)
}

func (s *sidecar) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	_ = s.cmd.Wait()
}

// interval sends one recorded batch as the pipeline does; returns the
// Symbolize answer's and the Aggregate answer's profiles as pdata marshals
// them (the latter with profile ids cleared).
func (s *sidecar) interval(iv interval) (sym, agg []byte, err error) {
	r := len(s.symWall) - 1
	t := time.Now()
	res, err := s.call("ebpfotel.sidecar.v1.SymbolizerService/Symbolize", iv.sym)
	if err != nil {
		return nil, nil, err
	}
	s.symWall[r] += time.Since(t)
	sym = field1(res)
	// The collector between the processors: pdata reads the answer, the aggregator marshals it.
	pd, err := (&pprofile.ProtoUnmarshaler{}).UnmarshalProfiles(sym)
	if err != nil {
		return nil, nil, fmt.Errorf("symbolize answer: %w", err)
	}
	again, err := (&pprofile.ProtoMarshaler{}).MarshalProfiles(pd)
	if err != nil {
		return nil, nil, err
	}
	s.intervals++
	if bytes.Equal(again, sym) {
		s.remarshalSame++
	}
	t = time.Now()
	res, err = s.call("ebpfotel.sidecar.v1.AggregatorService/Aggregate", withField1(iv.agg, again))
	if err != nil {
		return nil, nil, err
	}
	s.aggWall[r] += time.Since(t)
	out, err := (&pprofile.ProtoUnmarshaler{}).UnmarshalProfiles(field1(res))
	if err != nil {
		return nil, nil, fmt.Errorf("aggregate answer: %w", err)
	}
	for _, rp := range out.ResourceProfiles().All() {
		for _, sp := range rp.ScopeProfiles().All() {
			for _, p := range sp.Profiles().All() {
				p.SetProfileID(pprofile.ProfileID{})
			}
		}
	}
	agg, err = (&pprofile.ProtoMarshaler{}).MarshalProfiles(out)
	// pdata's marshal is the canonical form: answers that differ only in field order compare equal.
	return again, agg, err
}

func (s *sidecar) call(procedure string, body []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://sidecar/"+procedure, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/proto")
	req.Header.Set("Connect-Protocol-Version", "1")
	res, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s: %s", procedure, res.Status, b)
	}
	return b, nil
}

// field1 is a message's field 1 (profiles_data of every request and answer here).
func field1(msg []byte) []byte {
	for len(msg) > 0 {
		num, typ, n := protowire.ConsumeTag(msg)
		if n < 0 {
			return nil
		}
		msg = msg[n:]
		if num == 1 && typ == protowire.BytesType {
			v, _ := protowire.ConsumeBytes(msg)
			return v
		}
		n = protowire.ConsumeFieldValue(num, typ, msg)
		if n < 0 {
			return nil
		}
		msg = msg[n:]
	}
	return nil
}

// withField1 is msg with field 1 replaced by v (written first, as Go's marshal does).
func withField1(msg, v []byte) []byte {
	out := protowire.AppendTag(nil, 1, protowire.BytesType)
	out = protowire.AppendBytes(out, v)
	for len(msg) > 0 {
		num, typ, n := protowire.ConsumeTag(msg)
		if n < 0 {
			break
		}
		m := protowire.ConsumeFieldValue(num, typ, msg[n:])
		if m < 0 {
			break
		}
		if num != 1 {
			out = append(out, msg[:n+m]...)
		}
		msg = msg[n+m:]
	}
	return out
}

// schedCPU sums the process's threads' time on CPU (schedstat, ns); main is the main thread's.
func (s *sidecar) schedCPU() (all, main time.Duration) {
	pid := s.cmd.Process.Pid
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, t.Name()))
		if err != nil {
			continue
		}
		f := strings.Fields(string(b))
		if len(f) == 0 {
			continue
		}
		ns, _ := strconv.ParseInt(f[0], 10, 64)
		all += time.Duration(ns)
		if t.Name() == strconv.Itoa(pid) {
			main = time.Duration(ns)
		}
	}
	return all, main
}

// memory reads VmRSS and VmHWM (peak) in bytes.
func memory(pid int) (rss, hwm int64) {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, line := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(line, ":")
		kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			rss = kb << 10
		case "VmHWM":
			hwm = kb << 10
		}
	}
	return rss, hwm
}

func loadAverage() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
