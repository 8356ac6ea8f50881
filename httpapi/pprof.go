package httpapi

import (
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
)

// Profiler returns the handler of Go's runtime profiles (net/http/pprof)
// under /debug/pprof/, for the hub's separate profiling listener.
func Profiler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// CheckLoopback returns an error unless addr (host:port) names a loopback
// host: the profiles tell how the hub runs and what it holds, so they are
// never served beyond the machine.
func CheckLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q: want host:port: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%q is not a loopback address (127.0.0.1, [::1] or localhost)", addr)
	}
	return nil
}
