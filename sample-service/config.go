package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Shutdown modes: how the process reacts to SIGTERM/SIGINT.
const (
	modeGraceful  = "graceful"
	modeImmediate = "immediate"
	modeIgnore    = "ignore"
)

// What happens to open connections once the drain is over.
const (
	closePolite = "polite"
	closeAbrupt = "abrupt"
)

// maxWorkDelay caps the per-request delay_ms so a stray query cannot pin a
// connection for longer than any sensible grace period.
const maxWorkDelay = 10 * time.Second

// Config is the effective configuration, logged whole at start so a run's
// logs say exactly which faults were switched on.
type Config struct {
	Port            int
	ListenHost      string
	Pod             string
	Version         string
	ShutdownMode    string
	ReadinessFlip   bool
	KeepaliveClose  string
	DrainDelay      time.Duration
	ShutdownTimeout time.Duration
	StartupDelay    time.Duration
	ReadyLies       bool
	ResponseDelay   time.Duration
}

// logFields renders durations as Go duration strings, the same form the
// environment accepts, so a logged config can be pasted back as env values.
func (c Config) logFields() map[string]any {
	return map[string]any{
		"port":              c.Port,
		"listen_host":       c.ListenHost,
		"pod":               c.Pod,
		"version":           c.Version,
		"shutdown_mode":     c.ShutdownMode,
		"readiness_flip":    c.ReadinessFlip,
		"keepalive_close":   c.KeepaliveClose,
		"drain_delay":       c.DrainDelay.String(),
		"shutdown_timeout":  c.ShutdownTimeout.String(),
		"startup_delay":     c.StartupDelay.String(),
		"ready_lies":        c.ReadyLies,
		"response_delay_ms": c.ResponseDelay.Milliseconds(),
	}
}

// ConfigError names the variable, the rejected value and what is allowed, so
// a misconfigured pod says why it crash-loops in a single log line.
type ConfigError struct {
	Name    string
	Value   string
	Allowed string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("%s=%q is not allowed; use %s", e.Name, e.Value, e.Allowed)
}

// LoadConfig reads the configuration from getenv. An empty value counts as
// unset, because Kubernetes manifests often template variables to "".
func LoadConfig(getenv func(string) string, buildVersion string) (Config, error) {
	c := Config{
		Port:            8080,
		ShutdownMode:    modeGraceful,
		ReadinessFlip:   true,
		KeepaliveClose:  closePolite,
		DrainDelay:      5 * time.Second,
		ShutdownTimeout: 10 * time.Second,
		Version:         buildVersion,
	}
	p := envParser{getenv: getenv}

	p.intRange("PORT", &c.Port, 0, 65535, "an integer from 0 to 65535 (0 picks a free port)")
	c.ListenHost = getenv("LISTEN_HOST")
	p.oneOf("SHUTDOWN_MODE", &c.ShutdownMode, modeGraceful, modeImmediate, modeIgnore)
	p.boolean("READINESS_FLIP", &c.ReadinessFlip)
	p.oneOf("KEEPALIVE_CLOSE", &c.KeepaliveClose, closePolite, closeAbrupt)
	p.duration("DRAIN_DELAY", &c.DrainDelay)
	p.duration("SHUTDOWN_TIMEOUT", &c.ShutdownTimeout)
	p.duration("STARTUP_DELAY", &c.StartupDelay)
	p.boolean("READY_LIES", &c.ReadyLies)
	var responseDelayMS int
	p.intRange("RESPONSE_DELAY_MS", &responseDelayMS, 0, -1, "an integer >= 0")
	c.ResponseDelay = time.Duration(responseDelayMS) * time.Millisecond
	if p.err != nil {
		return Config{}, p.err
	}

	if v := getenv("VERSION"); v != "" {
		c.Version = v
	}
	c.Pod = getenv("POD_NAME")
	if c.Pod == "" {
		host, err := os.Hostname()
		if err != nil {
			host = "unknown"
		}
		c.Pod = host
	}
	return c, nil
}

// envParser keeps only the first error: one clear message beats a list that
// scrolls the first cause out of view.
type envParser struct {
	getenv func(string) string
	err    error
}

func (p *envParser) lookup(name string) (string, bool) {
	if p.err != nil {
		return "", false
	}
	v := p.getenv(name)
	return v, v != ""
}

func (p *envParser) fail(name, value, allowed string) {
	p.err = &ConfigError{Name: name, Value: value, Allowed: allowed}
}

func (p *envParser) oneOf(name string, dst *string, allowed ...string) {
	v, ok := p.lookup(name)
	if !ok {
		return
	}
	for _, a := range allowed {
		if v == a {
			*dst = v
			return
		}
	}
	p.fail(name, v, "one of "+strings.Join(allowed, ", "))
}

func (p *envParser) boolean(name string, dst *bool) {
	v, ok := p.lookup(name)
	if !ok {
		return
	}
	switch v {
	case "true":
		*dst = true
	case "false":
		*dst = false
	default:
		p.fail(name, v, "one of true, false")
	}
}

func (p *envParser) duration(name string, dst *time.Duration) {
	v, ok := p.lookup(name)
	if !ok {
		return
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		p.fail(name, v, "a Go duration >= 0, such as 0, 500ms, 5s or 1m30s")
		return
	}
	*dst = d
}

// intRange rejects values outside [lo, hi]; hi < 0 means no upper bound.
func (p *envParser) intRange(name string, dst *int, lo, hi int, allowed string) {
	v, ok := p.lookup(name)
	if !ok {
		return
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || (hi >= 0 && n > hi) {
		p.fail(name, v, allowed)
		return
	}
	*dst = n
}
