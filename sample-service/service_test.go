package main

import (
	"os"
	"testing"
	"time"
)

func TestStartupDelay(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name        string
		readyLies   string
		readyAtBoot int
	}{
		{"honest", "false", 503},
		{"ready lies", "true", 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			const delay = 1500 * time.Millisecond
			p := startService(t, "STARTUP_DELAY="+delay.String(), "READY_LIES="+tc.readyLies)
			booted := time.Now()
			c := newClient()

			r := get(t, c, p.url("/"))
			if r.status != 503 || r.json(t)["status"] != "starting" {
				t.Fatalf("/ during startup: %d %s, want 503 starting", r.status, r.body)
			}
			if r := get(t, c, p.url("/ready")); r.status != tc.readyAtBoot {
				t.Fatalf("/ready during startup: %d, want %d", r.status, tc.readyAtBoot)
			}
			if r := get(t, c, p.url("/healthz")); r.status != 200 {
				t.Fatalf("/healthz during startup: %d, want 200", r.status)
			}

			for {
				if r := get(t, c, p.url("/")); r.status == 200 {
					break
				}
				if time.Since(booted) > 5*time.Second {
					t.Fatal("/ still not 200 five seconds after start")
				}
				time.Sleep(20 * time.Millisecond)
			}
			// The listening line is read a moment after the delay starts, so
			// allow some slack below the configured delay.
			if d := time.Since(booted); d < delay-300*time.Millisecond {
				t.Errorf("/ answered 200 after %v, want about %v", d, delay)
			}
			if r := get(t, c, p.url("/ready")); r.status != 200 {
				t.Errorf("/ready after startup: %d, want 200", r.status)
			}
			p.waitEvent("ready", time.Second)
		})
	}
}

func TestResponseDelayAddsLatency(t *testing.T) {
	t.Parallel()
	delayed := startService(t, "RESPONSE_DELAY_MS=400")
	plain := startService(t)
	c := newClient()

	if r := get(t, c, plain.url("/")); r.status != 200 || r.elapsed >= 300*time.Millisecond {
		t.Fatalf("baseline /: status %d in %v, want 200 in < 300ms", r.status, r.elapsed)
	}
	if r := get(t, c, delayed.url("/")); r.status != 200 || r.elapsed < 400*time.Millisecond {
		t.Errorf("/ with RESPONSE_DELAY_MS=400: status %d in %v, want 200 in >= 400ms", r.status, r.elapsed)
	}
	r := get(t, c, delayed.url("/work?delay_ms=200"))
	if r.status != 200 || r.elapsed < 600*time.Millisecond {
		t.Errorf("/work?delay_ms=200 with RESPONSE_DELAY_MS=400: status %d in %v, want 200 in >= 600ms", r.status, r.elapsed)
	}
	body := r.json(t)
	if body["delay_ms"] != float64(200) || body["response_delay_ms"] != float64(400) {
		t.Errorf("body %s, want delay_ms 200 and response_delay_ms 400", r.body)
	}
	if r := get(t, c, delayed.url("/healthz")); r.elapsed >= 300*time.Millisecond {
		t.Errorf("/healthz took %v; probes must not be delayed", r.elapsed)
	}
}

func TestHeadersOnEveryResponse(t *testing.T) {
	t.Parallel()
	p := startService(t, "POD_NAME=pod-a", "VERSION=9.9.9")
	c := newClient()
	paths := map[string]int{
		"/":                   200,
		"/work?delay_ms=10":   200,
		"/ready":              200,
		"/healthz":            200,
		"/work?delay_ms=soon": 400,
		"/no-such-path":       404,
	}
	for path, status := range paths {
		req := p.url(path)
		r := get(t, c, req)
		if r.status != status {
			t.Errorf("%s: status %d, want %d", path, r.status, status)
		}
		if got := r.header.Get("X-Pod"); got != "pod-a" {
			t.Errorf("%s: X-Pod %q, want pod-a", path, got)
		}
		if got := r.header.Get("X-Version"); got != "9.9.9" {
			t.Errorf("%s: X-Version %q, want 9.9.9", path, got)
		}
		if got := r.header.Get("X-Request-ID"); got != r.sentID {
			t.Errorf("%s: X-Request-ID %q, want the request's %q echoed", path, got, r.sentID)
		}
	}

	r := get(t, c, p.url("/work?delay_ms=10"))
	body := r.json(t)
	if body["pod"] != "pod-a" || body["version"] != "9.9.9" || body["delay_ms"] != float64(10) {
		t.Errorf("body %s, want pod pod-a, version 9.9.9, delay_ms 10", r.body)
	}
	if body["request_id"] != r.sentID {
		t.Errorf("body request_id %v, want %q", body["request_id"], r.sentID)
	}
	servedAt, _ := body["served_at"].(string)
	ts, err := time.Parse(time.RFC3339Nano, servedAt)
	if err != nil || time.Since(ts).Abs() > time.Minute {
		t.Errorf("served_at %q: %v; want a current RFC3339Nano time", servedAt, err)
	}
}

func TestBuildVersionAndHostnameDefaults(t *testing.T) {
	t.Parallel()
	p := startService(t, "POD_NAME=")
	r := get(t, newClient(), p.url("/"))
	if got := r.header.Get("X-Version"); got != testBuildVersion {
		t.Errorf("X-Version %q, want the -ldflags version %q", got, testBuildVersion)
	}
	host, err := os.Hostname()
	if err != nil {
		t.Skip("no hostname on this machine")
	}
	if got := r.header.Get("X-Pod"); got != host {
		t.Errorf("X-Pod %q without POD_NAME, want the hostname %q", got, host)
	}
}

func TestParseDelayMS(t *testing.T) {
	t.Parallel()
	good := map[string]int{"": 0, "0": 0, "250": 250, "10000": 10000, "10001": 10000, "99999999999999999999999": 10000}
	for in, want := range good {
		if got, err := parseDelayMS(in); err != nil || got != want {
			t.Errorf("parseDelayMS(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"-1", "1.5", "abc", "5s", " 5", "-99999999999999999999999"} {
		if _, err := parseDelayMS(in); err == nil {
			t.Errorf("parseDelayMS(%q) accepted, want an error", in)
		}
	}
}
