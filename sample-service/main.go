// Command sample-service is a small HTTP service whose shutdown behaviour is
// switched by environment variables: graceful, or broken in one of the ways
// that lose requests during a Kubernetes rollout.
package main

import (
	"fmt"
	"net"
	"os"
	"os/signal"
	"runtime"
	"strconv"
)

// version is set at build time with -ldflags "-X main.version=...";
// the VERSION environment variable overrides it.
var version = "dev"

func main() {
	if len(os.Args) > 1 && os.Args[1] == "fetch" {
		os.Exit(fetch(os.Args[2:]))
	}
	os.Exit(run())
}

func run() int {
	cfg, err := LoadConfig(os.Getenv, version)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}

	log := newEventLog(os.Stdout)
	log.Emit("start", map[string]any{
		"config": cfg.logFields(),
		"pid":    os.Getpid(),
		"go":     runtime.Version(),
	})

	// Subscribe before listening: a signal that arrives while the listener
	// comes up must still follow SHUTDOWN_MODE, not kill the process.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, shutdownSignals...)

	ln, err := net.Listen("tcp", net.JoinHostPort(cfg.ListenHost, strconv.Itoa(cfg.Port)))
	if err != nil {
		fmt.Fprintln(os.Stderr, "listen:", err)
		log.Emit("exit", map[string]any{"code": 1, "error": err.Error()})
		return 1
	}

	log.Emit("listening", map[string]any{"addr": ln.Addr().String()})

	svc := newService(cfg, log)
	srv := svc.httpServer()
	// Mark the start before serving: connections wait in the listen backlog
	// until then, so with no STARTUP_DELAY not one request sees "starting".
	svc.startAfter(cfg.StartupDelay)
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	return svc.waitAndStop(sigs, srv, ln, serveErr)
}
