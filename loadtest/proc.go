package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTicks is USER_HZ, the unit of /proc/PID/stat's CPU times: 100 on
// every Linux architecture Go runs on.
const clockTicks = 100

// proc reads another process's figures from /proc.
type proc struct {
	pid int
}

// RSS returns the process's resident set size in bytes (VmRSS) and its
// anonymous part (RssAnon): the resident memory less the pages of mapped
// files, such as the embedded store's memory-mapped database.
func (p proc) RSS() (rss, anon int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.pid))
	if err != nil {
		return 0, 0, err
	}
	if rss, err = parseStatusKB(b, "VmRSS:"); err != nil {
		return 0, 0, err
	}
	if anon, err = parseStatusKB(b, "RssAnon:"); err != nil {
		return 0, 0, err
	}
	return rss, anon, nil
}

// parseStatusKB returns the value in bytes of a "Name:   123 kB" line of
// /proc/PID/status.
func parseStatusKB(status []byte, name string) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) {
			continue
		}
		f := strings.Fields(strings.TrimPrefix(line, name))
		if len(f) == 0 {
			break
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s %q: %w", name, f[0], err)
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("no %s line", name)
}

// CPU returns the process's user plus system CPU time so far.
func (p proc) CPU() (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.pid))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(b)
}

// parseStatCPU returns utime+stime of a /proc/PID/stat line. The fields
// are counted after the command name's closing parenthesis, since the
// name may hold spaces.
func parseStatCPU(stat []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("stat: no command name")
	}
	f := strings.Fields(string(stat[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, errors.New("stat: too few fields")
	}
	var ticks int64
	for _, s := range f[11:13] {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("stat: %w", err)
		}
		ticks += v
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// FDLimit returns the process's soft limit of open files.
func (p proc) FDLimit() (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", p.pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "Max open files"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				if f[0] == "unlimited" {
					return 1 << 30, nil
				}
				return strconv.Atoi(f[0])
			}
		}
	}
	return 0, errors.New("limits: no Max open files line")
}

// OpenFDs returns how many files the process has open.
func (p proc) OpenFDs() (int, error) {
	es, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", p.pid))
	if err != nil {
		return 0, err
	}
	return len(es), nil
}

// CPUWindow is the CPU use, in cores, of the hub and of every other
// process on the machine (the load client left out) over one window.
type CPUWindow struct {
	Hub    float64       `json:"hub_cores"`
	Others float64       `json:"others_cores"`
	Wall   time.Duration `json:"wall_ns"`
}

// cpuOver measures the process's CPU use over window, sleeping meanwhile;
// done ends the wait early.
func (p proc) cpuOver(window time.Duration, done <-chan struct{}) (CPUWindow, error) {
	c0, err := p.CPU()
	if err != nil {
		return CPUWindow{}, err
	}
	m0, s0 := machineBusy(), selfCPU()
	t0 := time.Now()
	t := time.NewTimer(window)
	defer t.Stop()
	select {
	case <-t.C:
	case <-done:
	}
	c1, err := p.CPU()
	if err != nil {
		return CPUWindow{}, err
	}
	m1, s1 := machineBusy(), selfCPU()
	w := CPUWindow{Wall: time.Since(t0)}
	w.Hub = ratio(float64(c1-c0), float64(w.Wall))
	w.Others = max(0, ratio(float64((m1-m0)-(c1-c0)-(s1-s0)), float64(w.Wall)))
	return w, nil
}

// PhaseCPU is the CPU use, in cores, of a server (the hub, or the raw
// net/http baseline), of this client and of every other process on the
// machine during one phase.
type PhaseCPU struct {
	Hub    float64       `json:"hub_cores"`
	Client float64       `json:"client_cores"`
	Others float64       `json:"others_cores"`
	Wall   time.Duration `json:"wall_ns"`
}

// mark is a moment's CPU counters of a server process, this process and
// the machine.
type mark struct {
	server             *proc // nil when unknown
	at                 time.Time
	srv, self, machine time.Duration
}

func startMark(server *proc) mark {
	m := mark{server: server, at: time.Now(), self: selfCPU(), machine: machineBusy()}
	if server != nil {
		m.srv, _ = server.CPU()
	}
	return m
}

// since returns the CPU time the server, this process and every other
// process on the machine have used since m. Without the server's
// counters (no server, or they cannot be read) server is 0, others
// includes the server, and ok is false.
func (m mark) since() (server, self, others time.Duration, ok bool) {
	self = selfCPU() - m.self
	machine := machineBusy() - m.machine
	if m.server != nil {
		if cpu, err := m.server.CPU(); err == nil {
			server, ok = cpu-m.srv, true
		}
	}
	return server, self, max(0, machine-server-self), ok
}

// stop returns the CPU use since m, in cores ("Hub" is the server's).
func (m mark) stop() PhaseCPU {
	server, self, others, _ := m.since()
	wall := time.Since(m.at)
	return PhaseCPU{
		Wall:   wall,
		Hub:    ratio(float64(server), float64(wall)),
		Client: ratio(float64(self), float64(wall)),
		Others: ratio(float64(others), float64(wall)),
	}
}

// machineBusy returns the CPU time every process has used so far, over
// all cores, from /proc/stat; 0 when it cannot be read.
func machineBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	d, _ := parseMachineBusy(b)
	return d
}

// parseMachineBusy returns user+nice+system+irq+softirq+steal of the
// aggregate "cpu" line of /proc/stat.
func parseMachineBusy(stat []byte) (time.Duration, error) {
	line, _, _ := bytes.Cut(stat, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 9 || f[0] != "cpu" {
		return 0, errors.New("/proc/stat: no cpu line")
	}
	var ticks int64
	for _, i := range []int{1, 2, 3, 6, 7, 8} { // user nice system (idle iowait) irq softirq steal
		v, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/stat: %w", err)
		}
		ticks += v
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// listenerPID returns the process listening on TCP port, found through
// /proc/net/tcp{,6} and the processes' descriptors, or 0.
func listenerPID(port int) int {
	inodes := map[string]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			fs := strings.Fields(line)
			if len(fs) < 10 || fs[3] != "0A" { // 0A: LISTEN
				continue
			}
			_, hexPort, ok := strings.Cut(fs[1], ":")
			if p, err := strconv.ParseInt(hexPort, 16, 32); ok && err == nil && int(p) == port {
				inodes["socket:["+fs[9]+"]"] = true
			}
		}
	}
	if len(inodes) == 0 {
		return 0
	}
	dirs, _ := filepath.Glob("/proc/[0-9]*/fd")
	for _, d := range dirs {
		fds, err := os.ReadDir(d)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			if link, err := os.Readlink(filepath.Join(d, fd.Name())); err == nil && inodes[link] {
				pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(d)))
				return pid
			}
		}
	}
	return 0
}

// raiseNoFile raises this process's RLIMIT_NOFILE towards want: the soft
// limit up to the hard one, and the hard one too where the process may
// (CAP_SYS_RESOURCE). It returns the limits in force afterwards.
func raiseNoFile(want uint64) (soft, hard uint64, err error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, 0, fmt.Errorf("getrlimit: %w", err)
	}
	if lim.Cur >= want {
		return lim.Cur, lim.Max, nil
	}
	if want > lim.Max {
		raised := syscall.Rlimit{Cur: want, Max: want}
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised) == nil {
			return want, want, nil
		}
	}
	lim.Cur = min(want, lim.Max)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, 0, fmt.Errorf("setrlimit: %w", err)
	}
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, 0, fmt.Errorf("getrlimit: %w", err)
	}
	return lim.Cur, lim.Max, nil
}

// selfCPU returns this process's user plus system CPU time so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
