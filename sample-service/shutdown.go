package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"syscall"
	"time"
)

// shutdownSignals are the signals that start a shutdown. Kubernetes sends
// SIGTERM; SIGINT makes Ctrl-C behave the same way when run by hand.
var shutdownSignals = []os.Signal{syscall.SIGTERM, syscall.SIGINT}

func signalEvent(sig os.Signal) string {
	switch sig {
	case syscall.SIGTERM:
		return "sigterm"
	case syscall.SIGINT:
		return "sigint"
	}
	return "signal"
}

// signalExitCode is what the shell reports for a process killed by sig, which
// is what a service without any signal handling would show.
func signalExitCode(sig os.Signal) int {
	if s, ok := sig.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return 1
}

// waitAndStop blocks until a signal ends the process or serving fails, and
// returns the exit code.
func (s *service) waitAndStop(sigs <-chan os.Signal, srv *http.Server, ln net.Listener, serveErr <-chan error) int {
	for {
		select {
		case err := <-serveErr:
			s.log.Emit("serve_failed", map[string]any{"error": err.Error()})
			s.log.Emit("exit", map[string]any{"code": 1})
			return 1
		case sig := <-sigs:
			switch s.cfg.ShutdownMode {
			case modeIgnore:
				s.log.Emit(signalEvent(sig), map[string]any{"mode": modeIgnore, "action": "ignored"})
				continue
			case modeImmediate:
				s.log.Emit(signalEvent(sig), map[string]any{"mode": modeImmediate, "action": "exit"})
				code := signalExitCode(sig)
				s.log.Emit("exit", map[string]any{"code": code})
				// The caller exits the process right away: no deferred
				// cleanup, no Shutdown, in-flight requests are cut off.
				return code
			default:
				s.log.Emit(signalEvent(sig), map[string]any{"mode": modeGraceful, "action": "shutdown"})
				return s.gracefulStop(sigs, srv, ln)
			}
		}
	}
}

// gracefulStop runs the sequence Kubernetes needs to lose no request: first
// fail readiness and keep serving while the endpoint removal propagates to
// every proxy, then stop accepting and let in-flight requests finish.
func (s *service) gracefulStop(sigs <-chan os.Signal, srv *http.Server, ln net.Listener) int {
	s.stopping.Store(true)

	s.log.Emit("drain_start", map[string]any{
		"drain_delay":    s.cfg.DrainDelay.String(),
		"readiness_flip": s.cfg.ReadinessFlip,
	})
	s.drain(sigs)
	s.log.Emit("drain_end", nil)

	s.log.Emit("shutdown_start", map[string]any{
		"keepalive_close":  s.cfg.KeepaliveClose,
		"shutdown_timeout": s.cfg.ShutdownTimeout.String(),
		"connections":      s.conns.counts(),
	})

	if s.cfg.KeepaliveClose == closeAbrupt {
		// Stop accepting first, so no connection slips in after the reset.
		_ = ln.Close()
		n := s.conns.resetAll()
		s.log.Emit("shutdown_done", map[string]any{"reset_connections": n})
		s.log.Emit("exit", map[string]any{"code": 0})
		return 0
	}

	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	code := 0
	if err := srv.Shutdown(ctx); err != nil {
		// The deadline passed with requests still running: cut them off so
		// the process ends before the kubelet's SIGKILL does it less cleanly.
		_ = srv.Close()
		code = 1
		fields := map[string]any{"error": err.Error()}
		if errors.Is(err, context.DeadlineExceeded) {
			fields["timed_out"] = true
		}
		s.log.Emit("shutdown_done", fields)
	} else {
		s.log.Emit("shutdown_done", nil)
	}
	s.log.Emit("exit", map[string]any{"code": code})
	return code
}

// drain waits DRAIN_DELAY while the server keeps serving. Further signals
// are logged but do not cut the drain short: the kubelet sends SIGTERM once,
// and a repeated Ctrl-C should not turn a graceful stop into a lossy one.
func (s *service) drain(sigs <-chan os.Signal) {
	if s.cfg.DrainDelay <= 0 {
		return
	}
	t := time.NewTimer(s.cfg.DrainDelay)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			return
		case sig := <-sigs:
			s.log.Emit(signalEvent(sig), map[string]any{"mode": modeGraceful, "action": "already_stopping"})
		}
	}
}
