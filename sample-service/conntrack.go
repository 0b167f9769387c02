package main

import (
	"net"
	"net/http"
	"sync"
)

// connTracker follows every connection through http.Server.ConnState. The
// server keeps its own list private, and KEEPALIVE_CLOSE=abrupt needs to
// reach each socket to reset it.
type connTracker struct {
	mu    sync.Mutex
	conns map[net.Conn]http.ConnState
}

func newConnTracker() *connTracker {
	return &connTracker{conns: make(map[net.Conn]http.ConnState)}
}

func (t *connTracker) track(c net.Conn, state http.ConnState) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch state {
	case http.StateHijacked, http.StateClosed:
		delete(t.conns, c)
	default:
		t.conns[c] = state
	}
}

// counts reports open connections by state, for the shutdown log.
func (t *connTracker) counts() map[string]int {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := map[string]int{"new": 0, "active": 0, "idle": 0}
	for _, state := range t.conns {
		out[state.String()]++
	}
	return out
}

// resetAll closes every tracked connection with SO_LINGER 0, which makes the
// kernel drop unsent data and answer with a TCP RST instead of a FIN: the
// peer sees "connection reset" even in the middle of a request.
func (t *connTracker) resetAll() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for c := range t.conns {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		_ = c.Close()
		delete(t.conns, c)
		n++
	}
	return n
}
