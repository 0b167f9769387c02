package main

import (
	"io"
	"net"
	"slices"
	"syscall"
	"testing"
	"time"
)

// inFlightHead is how long a test waits after sending a slow request before
// signalling, so the server has surely read the request.
const inFlightHead = 200 * time.Millisecond

func TestGracefulCompletesInFlightAndServesDuringDrain(t *testing.T) {
	t.Parallel()
	p := startService(t, "DRAIN_DELAY=1s")

	idle := dialRaw(t, p.addr)
	idle.send(t, "/healthz")
	r, err := idle.receive(2 * time.Second)
	if err != nil || r.status != 200 || r.close {
		t.Fatalf("before the signal: status %d close %v err %v; want 200 keep-alive", r.status, r.close, err)
	}

	slow := dialRaw(t, p.addr)
	slow.send(t, "/work?delay_ms=1500")
	time.Sleep(inFlightHead)

	p.signal(syscall.SIGTERM)
	p.waitEvent("drain_start", 2*time.Second)

	// A keep-alive connection opened before the signal is answered, then
	// closed by the server, so its client reconnects elsewhere.
	idle.send(t, "/")
	r, err = idle.receive(2 * time.Second)
	if err != nil || r.status != 200 {
		t.Fatalf("keep-alive request during the drain: status %d err %v; want 200", r.status, err)
	}
	if !r.close {
		t.Error("keep-alive request during the drain: no Connection: close")
	}
	if err := idle.ending(2 * time.Second); err != io.EOF {
		t.Errorf("after a Connection: close response the server should close the socket; read gave %v", err)
	}

	// New connections are still accepted and served during the drain.
	c := newClient()
	for range 5 {
		r := get(t, c, p.url("/"))
		if r.status != 200 || !r.close {
			t.Fatalf("new request during the drain: status %d close %v; want 200 with Connection: close", r.status, r.close)
		}
		time.Sleep(50 * time.Millisecond)
	}
	fresh := dialRaw(t, p.addr)
	fresh.send(t, "/work")
	r, err = fresh.receive(2 * time.Second)
	if err != nil || r.status != 200 || !r.close {
		t.Fatalf("fresh connection during the drain: status %d close %v err %v; want 200 with Connection: close", r.status, r.close, err)
	}
	if err := fresh.ending(2 * time.Second); err != io.EOF {
		t.Errorf("fresh connection not closed after its response; read gave %v", err)
	}
	if _, ended := p.findEvent("drain_end"); ended {
		t.Fatal("the drain ended before the checks above finished, so they did not test the drain")
	}

	r, err = slow.receive(5 * time.Second)
	if err != nil || r.status != 200 {
		t.Fatalf("in-flight request: status %d err %v; want 200", r.status, err)
	}
	if got := r.json(t)["delay_ms"]; got != float64(1500) {
		t.Errorf("in-flight request: delay_ms %v, want 1500", got)
	}

	if code, sig := p.waitExit(5 * time.Second); code != 0 {
		t.Fatalf("exit code %d (signal %v), want 0", code, sig)
	}
	want := []string{"start", "listening", "ready", "sigterm", "drain_start", "drain_end", "shutdown_start", "shutdown_done", "exit"}
	if got := p.eventNames(); !slices.Equal(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}
	start, _ := p.findEvent("drain_start")
	end, _ := p.findEvent("drain_end")
	if d := end.time(t).Sub(start.time(t)); d < time.Second {
		t.Errorf("drain lasted %v, want at least DRAIN_DELAY=1s", d)
	}
}

func TestImmediateDropsInFlight(t *testing.T) {
	t.Parallel()
	p := startService(t, "SHUTDOWN_MODE=immediate")

	slow := dialRaw(t, p.addr)
	slow.send(t, "/work?delay_ms=1500")
	time.Sleep(inFlightHead)

	sent := time.Now()
	p.signal(syscall.SIGTERM)
	r, err := slow.receive(5 * time.Second)
	if err == nil {
		t.Fatalf("in-flight request got a complete response (status %d); immediate mode must drop it", r.status)
	}
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("in-flight request timed out instead of seeing the connection die: %v", err)
	}
	if d := time.Since(sent); d > time.Second {
		t.Errorf("connection died %v after SIGTERM; immediate mode should exit at once", d)
	}
	if code, sig := p.waitExit(2 * time.Second); code != 128+int(syscall.SIGTERM) {
		t.Errorf("exit code %d (signal %v), want %d", code, sig, 128+int(syscall.SIGTERM))
	}
	if _, ok := p.findEvent("shutdown_start"); ok {
		t.Error("immediate mode logged shutdown_start; it must not run a shutdown")
	}
}

func TestReadinessFailsWithin100msOfSIGTERM(t *testing.T) {
	t.Parallel()
	p := startService(t, "DRAIN_DELAY=2s")
	c := newClient()
	if r := get(t, c, p.url("/ready")); r.status != 200 {
		t.Fatalf("/ready before the signal: %d, want 200", r.status)
	}

	sent := time.Now()
	p.signal(syscall.SIGTERM)
	for {
		r := get(t, c, p.url("/ready"))
		if r.status == 503 {
			break
		}
		if r.status != 200 {
			t.Fatalf("/ready: unexpected status %d", r.status)
		}
		if time.Since(sent) > time.Second {
			t.Fatal("/ready still 200 one second after SIGTERM")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if d := time.Since(sent); d > 100*time.Millisecond {
		t.Errorf("/ready turned 503 %v after SIGTERM, want within 100ms", d)
	}
	if r := get(t, c, p.url("/")); r.status != 200 {
		t.Errorf("/ during the drain: %d, want 200", r.status)
	}
}

func TestReadinessFlipDisabledKeepsReady(t *testing.T) {
	t.Parallel()
	p := startService(t, "DRAIN_DELAY=1s", "READINESS_FLIP=false")
	c := newClient()

	p.signal(syscall.SIGTERM)
	p.waitEvent("drain_start", 2*time.Second)
	for range 5 {
		if r := get(t, c, p.url("/ready")); r.status != 200 {
			t.Fatalf("/ready during the drain with READINESS_FLIP=false: %d, want 200", r.status)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, ended := p.findEvent("drain_end"); ended {
		t.Fatal("the drain ended before the checks finished, so they did not test the drain")
	}
	if code, _ := p.waitExit(5 * time.Second); code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
}

func TestIgnoreModeSurvivesSIGTERMButNotSIGKILL(t *testing.T) {
	t.Parallel()
	p := startService(t, "SHUTDOWN_MODE=ignore", "DRAIN_DELAY=0")
	c := newClient()

	p.signal(syscall.SIGTERM)
	if e := p.waitEvent("sigterm", 2*time.Second); e["action"] != "ignored" {
		t.Errorf("sigterm event %v, want action ignored", e)
	}
	time.Sleep(time.Second)
	if p.exited() {
		t.Fatal("process exited after SIGTERM in ignore mode")
	}
	if r := get(t, c, p.url("/")); r.status != 200 || r.close {
		t.Errorf("/ one second after SIGTERM: status %d close %v, want 200 keep-alive", r.status, r.close)
	}
	if r := get(t, c, p.url("/ready")); r.status != 200 {
		t.Errorf("/ready one second after SIGTERM: %d, want 200", r.status)
	}

	p.signal(syscall.SIGKILL)
	if code, sig := p.waitExit(2 * time.Second); sig != syscall.SIGKILL {
		t.Errorf("exit code %d signal %v, want killed by SIGKILL", code, sig)
	}
	if _, err := net.DialTimeout("tcp", p.addr, time.Second); !isRefused(err) {
		t.Errorf("dial after SIGKILL: %v, want connection refused", err)
	}
}

func TestKeepaliveClose(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"polite", "abrupt"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			p := startService(t, "DRAIN_DELAY=200ms", "KEEPALIVE_CLOSE="+mode)

			idle := dialRaw(t, p.addr)
			idle.send(t, "/healthz")
			if r, err := idle.receive(2 * time.Second); err != nil || r.status != 200 {
				t.Fatalf("warm-up request: status %d err %v", r.status, err)
			}
			slow := dialRaw(t, p.addr)
			slow.send(t, "/work?delay_ms=1500")
			time.Sleep(inFlightHead)

			p.signal(syscall.SIGTERM)
			r, err := slow.receive(5 * time.Second)
			idleEnd := idle.ending(5 * time.Second)

			switch mode {
			case "polite":
				if err != nil || r.status != 200 {
					t.Errorf("in-flight request: status %d err %v; want 200", r.status, err)
				}
				if idleEnd != io.EOF {
					t.Errorf("idle keep-alive connection ended with %v, want an orderly close (EOF)", idleEnd)
				}
			case "abrupt":
				if !isReset(err) {
					t.Errorf("in-flight request: status %d err %v; want connection reset", r.status, err)
				}
				if !isReset(idleEnd) {
					t.Errorf("idle keep-alive connection ended with %v, want connection reset", idleEnd)
				}
			}
			if code, _ := p.waitExit(5 * time.Second); code != 0 {
				t.Errorf("exit code %d, want 0", code)
			}
		})
	}
}

func TestNoDrainClosesListenerPromptly(t *testing.T) {
	t.Parallel()
	p := startService(t, "DRAIN_DELAY=0")

	// The slow request keeps the process alive, so a refused dial shows the
	// listener closed, not that the process is gone.
	slow := dialRaw(t, p.addr)
	slow.send(t, "/work?delay_ms=1500")
	time.Sleep(inFlightHead)

	p.signal(syscall.SIGTERM)
	took, refused := dialRefusedWithin(p.addr, time.Second)
	if !refused {
		t.Fatal("new connections still accepted one second after SIGTERM with DRAIN_DELAY=0")
	}
	if p.exited() {
		t.Fatal("process exited before the in-flight request finished")
	}
	if took > 300*time.Millisecond {
		t.Errorf("listener closed %v after SIGTERM, want promptly (< 300ms)", took)
	}
	e := p.waitEvent("drain_start", time.Second)
	if e["drain_delay"] != "0s" || e["readiness_flip"] != true {
		t.Errorf("drain_start %v, want drain_delay 0s and readiness_flip true", e)
	}

	r, err := slow.receive(5 * time.Second)
	if err != nil || r.status != 200 {
		t.Fatalf("in-flight request: status %d err %v; want 200", r.status, err)
	}
	if !r.close {
		t.Errorf("in-flight request answered during shutdown without Connection: close")
	}
	if code, _ := p.waitExit(5 * time.Second); code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
}

func TestShutdownTimeoutCutsOffSlowRequests(t *testing.T) {
	t.Parallel()
	p := startService(t, "DRAIN_DELAY=0", "SHUTDOWN_TIMEOUT=300ms")

	slow := dialRaw(t, p.addr)
	slow.send(t, "/work?delay_ms=3000")
	time.Sleep(inFlightHead)

	sent := time.Now()
	p.signal(syscall.SIGTERM)
	if r, err := slow.receive(5 * time.Second); err == nil {
		t.Fatalf("request outliving SHUTDOWN_TIMEOUT got a response (status %d); want it cut off", r.status)
	}
	if d := time.Since(sent); d > 2*time.Second {
		t.Errorf("request cut off %v after SIGTERM, want soon after SHUTDOWN_TIMEOUT=300ms", d)
	}
	if code, _ := p.waitExit(5 * time.Second); code != 1 {
		t.Errorf("exit code %d, want 1 after a shutdown that timed out", code)
	}
	if e, _ := p.findEvent("shutdown_done"); e["timed_out"] != true {
		t.Errorf("shutdown_done %v, want timed_out true", e)
	}
}
