package main

import (
	"testing"
	"time"
)

func TestParseProcFiles(t *testing.T) {
	stat := []byte("1234 (gridhub (x) y) S 1 1234 1234 0 -1 4194560 4235 0 0 0 250 75 0 0 20 0 9 0 123 1 2\n")
	cpu, err := parseStatCPU(stat)
	if err != nil || cpu != 3250*time.Millisecond {
		t.Errorf("parseStatCPU = %v, %v; want 3.25s", cpu, err)
	}
	status := []byte("Name:\tgridhub\nVmPeak:\t  99999 kB\nVmRSS:\t   40960 kB\nThreads:\t9\n")
	rss, err := parseStatusKB(status, "VmRSS:")
	if err != nil || rss != 40<<20 {
		t.Errorf("parseStatusKB = %d, %v; want 40 MiB", rss, err)
	}
	if _, err := parseStatusKB(status, "VmSwap:"); err == nil {
		t.Error("parseStatusKB found a missing line")
	}
}

func TestParseMachineBusy(t *testing.T) {
	stat := []byte("cpu  100 5 50 9000 40 3 2 1 0 0\ncpu0 50 2 25 4500 20 1 1 0 0 0\n")
	got, err := parseMachineBusy(stat)
	if err != nil || got != 1610*time.Millisecond {
		t.Errorf("parseMachineBusy = %v, %v; want 1.61s (idle and iowait left out)", got, err)
	}
}
