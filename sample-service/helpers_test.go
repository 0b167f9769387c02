package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// testBuildVersion is baked into the test binary with -ldflags, so a test can
// tell the build-time version apart from the VERSION override.
const testBuildVersion = "0.0.0-test"

var binPath string

// TestMain builds the real binary once: the tests send it real signals and
// talk to it over real sockets, which an in-process server cannot fake.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sample-service-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "temp dir:", err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "sample-service")
	build := exec.Command("go", "build", "-o", binPath, "-ldflags", "-X main.version="+testBuildVersion, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building the service:", err)
		_ = os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// event is one parsed line of the service's stdout.
type event map[string]any

func (e event) name() string { s, _ := e["event"].(string); return s }

func (e event) time(t *testing.T) time.Time {
	t.Helper()
	s, _ := e["ts"].(string)
	ts, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("event %v: bad ts: %v", e, err)
	}
	return ts
}

// proc is one running service process.
type proc struct {
	t    *testing.T
	cmd  *exec.Cmd
	addr string

	mu      sync.Mutex
	events  []event
	badLine string
	stderr  strings.Builder
	changed chan struct{} // receives a token whenever a line arrives or the process ends

	done  chan struct{}
	state *os.ProcessState
}

// startService starts the binary on a free loopback port. env entries
// override the defaults; "NAME=" unsets a default, as the service treats
// empty values as unset.
func startService(t *testing.T, env ...string) *proc {
	t.Helper()
	cmd := exec.Command(binPath)
	cmd.Env = append([]string{"PORT=0", "LISTEN_HOST=127.0.0.1", "POD_NAME=test-pod"}, env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{t: t, cmd: cmd, changed: make(chan struct{}, 1), done: make(chan struct{})}
	cmd.Stderr = &lockedWriter{mu: &p.mu, w: &p.stderr}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go p.collect(stdout)
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		if t.Failed() {
			for _, e := range p.events {
				t.Logf("service event: %v", e)
			}
			if p.stderr.Len() > 0 {
				t.Logf("service stderr: %s", p.stderr.String())
			}
		}
	})

	listening := p.waitEvent("listening", 10*time.Second)
	p.addr, _ = listening["addr"].(string)
	if !strings.HasPrefix(p.addr, "127.0.0.1:") {
		t.Fatalf("listening on %q, want 127.0.0.1:port", p.addr)
	}
	return p
}

func (p *proc) collect(stdout io.Reader) {
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		var e event
		p.mu.Lock()
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			p.badLine = sc.Text()
		} else {
			p.events = append(p.events, e)
		}
		p.mu.Unlock()
		p.notify()
	}
	// Wait only after stdout is drained, as os/exec requires.
	_ = p.cmd.Wait()
	p.mu.Lock()
	p.state = p.cmd.ProcessState
	p.mu.Unlock()
	close(p.done)
}

func (p *proc) notify() {
	select {
	case p.changed <- struct{}{}:
	default:
	}
}

func (p *proc) findEvent(name string) (event, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range p.events {
		if e.name() == name {
			return e, true
		}
	}
	return nil, false
}

func (p *proc) waitEvent(name string, timeout time.Duration) event {
	p.t.Helper()
	deadline := time.After(timeout)
	for {
		if e, ok := p.findEvent(name); ok {
			return e
		}
		select {
		case <-p.changed:
		case <-time.After(20 * time.Millisecond):
			// Another goroutine may have taken the token; look again.
		case <-p.done:
			if e, ok := p.findEvent(name); ok {
				return e
			}
			p.t.Fatalf("process exited before logging %q", name)
		case <-deadline:
			p.t.Fatalf("no %q event within %v", name, timeout)
		}
	}
}

// eventNames lists the events logged so far, in order.
func (p *proc) eventNames() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	names := make([]string, len(p.events))
	for i, e := range p.events {
		names[i] = e.name()
	}
	if p.badLine != "" {
		names = append(names, "NOT JSON: "+p.badLine)
	}
	return names
}

func (p *proc) signal(sig os.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("sending %v: %v", sig, err)
	}
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// waitExit returns the exit code, or -1 with the signal when a signal killed
// the process.
func (p *proc) waitExit(timeout time.Duration) (int, syscall.Signal) {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.t.Fatalf("process still running %v later; events: %v", timeout, p.eventNames())
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	ws, _ := p.state.Sys().(syscall.WaitStatus)
	if ws.Signaled() {
		return -1, ws.Signal()
	}
	return ws.ExitStatus(), 0
}

func (p *proc) url(path string) string { return "http://" + p.addr + path }

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

var requestSeq atomic.Int64

func nextRequestID() string { return fmt.Sprintf("req-%d", requestSeq.Add(1)) }

// newClient returns a client with its own connection pool, so no test reuses
// a connection that another test's service owns.
func newClient() *http.Client {
	return &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second}
}

type reply struct {
	status  int
	header  http.Header
	body    []byte
	elapsed time.Duration
	close   bool   // the server asked to close the connection
	sentID  string // the X-Request-ID the request carried
}

func (r reply) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %q is not JSON: %v", r.body, err)
	}
	return m
}

func get(t *testing.T, c *http.Client, url string) reply {
	t.Helper()
	r, err := tryGet(c, url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return r
}

func tryGet(c *http.Client, url string) (reply, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return reply{}, err
	}
	id := nextRequestID()
	req.Header.Set("X-Request-ID", id)
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, err
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: body, elapsed: time.Since(start), close: resp.Close, sentID: id}, nil
}

// rawConn is a hand-driven HTTP/1.1 connection: it lets a test hold a request
// in flight across a signal and then see exactly how the socket ended.
type rawConn struct {
	net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &rawConn{Conn: c, br: bufio.NewReader(c)}
}

func (c *rawConn) send(t *testing.T, path string) {
	t.Helper()
	_, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nX-Request-ID: %s\r\n\r\n", path, c.RemoteAddr(), nextRequestID())
	if err != nil {
		t.Fatalf("write request: %v", err)
	}
}

// receive reads one complete response; any error means the client did not
// get a full answer.
func (c *rawConn) receive(timeout time.Duration) (reply, error) {
	_ = c.SetReadDeadline(time.Now().Add(timeout))
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, err
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: body, close: resp.Close}, nil
}

// ending waits for the server to end the connection and returns how:
// io.EOF for an orderly close, syscall.ECONNRESET for a reset.
func (c *rawConn) ending(timeout time.Duration) error {
	_ = c.SetReadDeadline(time.Now().Add(timeout))
	n, err := c.br.Read(make([]byte, 1))
	if n > 0 {
		return fmt.Errorf("unexpected data after the response")
	}
	return err
}

func isReset(err error) bool { return errors.Is(err, syscall.ECONNRESET) }

func isRefused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }

// dialRefusedWithin polls until a new connection is refused.
func dialRefusedWithin(addr string, limit time.Duration) (time.Duration, bool) {
	start := time.Now()
	for time.Since(start) < limit {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			_ = c.Close()
		} else if isRefused(err) {
			return time.Since(start), true
		}
		time.Sleep(5 * time.Millisecond)
	}
	return limit, false
}
