package main

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestInvalidConfigExitsWithCode2(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, value, allowed string
	}{
		{"PORT", "http", "an integer from 0 to 65535"},
		{"PORT", "70000", "an integer from 0 to 65535"},
		{"SHUTDOWN_MODE", "soft", "one of graceful, immediate, ignore"},
		{"READINESS_FLIP", "yes", "one of true, false"},
		{"KEEPALIVE_CLOSE", "rude", "one of polite, abrupt"},
		{"DRAIN_DELAY", "5", "a Go duration >= 0"},
		{"DRAIN_DELAY", "-1s", "a Go duration >= 0"},
		{"SHUTDOWN_TIMEOUT", "forever", "a Go duration >= 0"},
		{"STARTUP_DELAY", "2 s", "a Go duration >= 0"},
		{"READY_LIES", "1", "one of true, false"},
		{"RESPONSE_DELAY_MS", "-5", "an integer >= 0"},
		{"RESPONSE_DELAY_MS", "1.5", "an integer >= 0"},
	}
	for _, tc := range cases {
		t.Run(tc.name+"="+tc.value, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, binPath)
			cmd.Env = []string{"PORT=0", "LISTEN_HOST=127.0.0.1", tc.name + "=" + tc.value}
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()

			var exitErr *exec.ExitError
			if !errors.As(err, &exitErr) || exitErr.ExitCode() != 2 {
				t.Fatalf("run: %v, want exit code 2", err)
			}
			msg := strings.TrimSpace(stderr.String())
			want := tc.name + `="` + tc.value + `" is not allowed; use ` + tc.allowed
			if !strings.HasPrefix(msg, want) {
				t.Errorf("stderr %q, want it to start with %q", msg, want)
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("stderr has several lines, want one message: %q", msg)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout %q, want nothing: a rejected config must not start", stdout.String())
			}
		})
	}
}

func TestLoadConfigDefaults(t *testing.T) {
	t.Parallel()
	env := map[string]string{"POD_NAME": "p"}
	cfg, err := LoadConfig(func(k string) string { return env[k] }, "1.2.3")
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Port: 8080, Pod: "p", Version: "1.2.3",
		ShutdownMode: modeGraceful, ReadinessFlip: true, KeepaliveClose: closePolite,
		DrainDelay: 5 * time.Second, ShutdownTimeout: 10 * time.Second,
	}
	if cfg != want {
		t.Errorf("defaults %+v, want %+v", cfg, want)
	}

	env["VERSION"] = "override"
	env["RESPONSE_DELAY_MS"] = "250"
	env["DRAIN_DELAY"] = "0"
	cfg, err = LoadConfig(func(k string) string { return env[k] }, "1.2.3")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Version != "override" || cfg.ResponseDelay != 250*time.Millisecond || cfg.DrainDelay != 0 {
		t.Errorf("overrides not applied: %+v", cfg)
	}
}
