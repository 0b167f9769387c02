package main

import (
	"errors"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
)

// service holds the state the handlers read and the shutdown sequence writes.
type service struct {
	cfg   Config
	log   *eventLog
	conns *connTracker

	// started turns true once STARTUP_DELAY has passed.
	started atomic.Bool
	// stopping turns true the moment a shutdown begins; from then on every
	// response asks the client to close its connection.
	stopping atomic.Bool
}

func newService(cfg Config, log *eventLog) *service {
	return &service{cfg: cfg, log: log, conns: newConnTracker()}
}

func (s *service) httpServer() *http.Server {
	return &http.Server{
		Handler:           s.router(),
		ReadHeaderTimeout: 10 * time.Second,
		// No IdleTimeout on purpose: a server-side idle close races with a
		// client reusing the connection, and that race would show up as lost
		// requests that have nothing to do with the rollout under test.
		ConnState: s.conns.track,
	}
}

func (s *service) router() *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	// Nothing here depends on client addresses; trusting no proxy keeps gin
	// from parsing X-Forwarded-For at all.
	_ = r.SetTrustedProxies(nil)
	r.Use(gin.Recovery(), s.commonHeaders)

	r.GET("/", s.work)
	r.GET("/work", s.work)
	r.GET("/healthz", s.healthz)
	r.GET("/ready", s.ready)
	r.NoRoute(func(c *gin.Context) {
		s.reply(c, http.StatusNotFound, gin.H{"error": "not found"})
	})
	return r
}

// commonHeaders tags every response, errors and probes included, so the
// harness can attribute each answer to a pod and a version.
func (s *service) commonHeaders(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("X-Pod", s.cfg.Pod)
	h.Set("X-Version", s.cfg.Version)
	if id := c.GetHeader("X-Request-ID"); id != "" {
		h.Set("X-Request-ID", id)
	}
	c.Next()
}

// reply decides about Connection: close when the response is written rather
// than when the request arrived, so a slow request that started before the
// signal still tells its client to move on.
func (s *service) reply(c *gin.Context, code int, body any) {
	if s.stopping.Load() {
		// net/http closes the connection after a response that carries this
		// header, so a keep-alive client has to reconnect, and reaches a pod
		// that is still in the endpoints.
		c.Header("Connection", "close")
	}
	c.JSON(code, body)
}

type workResponse struct {
	Pod             string `json:"pod"`
	Version         string `json:"version"`
	RequestID       string `json:"request_id"`
	ServedAt        string `json:"served_at"`
	DelayMS         int    `json:"delay_ms"`
	ResponseDelayMS int64  `json:"response_delay_ms"`
}

func (s *service) work(c *gin.Context) {
	if !s.started.Load() {
		s.reply(c, http.StatusServiceUnavailable, gin.H{
			"status": "starting", "pod": s.cfg.Pod, "version": s.cfg.Version,
		})
		return
	}
	delayMS, err := parseDelayMS(c.Query("delay_ms"))
	if err != nil {
		s.reply(c, http.StatusBadRequest, gin.H{"error": err.Error()})
		return
	}

	wait := s.cfg.ResponseDelay + time.Duration(delayMS)*time.Millisecond
	if wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-c.Request.Context().Done():
			// The client is gone; there is nobody to answer.
			t.Stop()
			c.Abort()
			return
		}
	}

	s.reply(c, http.StatusOK, workResponse{
		Pod:             s.cfg.Pod,
		Version:         s.cfg.Version,
		RequestID:       c.GetHeader("X-Request-ID"),
		ServedAt:        time.Now().UTC().Format(time.RFC3339Nano),
		DelayMS:         delayMS,
		ResponseDelayMS: s.cfg.ResponseDelay.Milliseconds(),
	})
}

var errBadDelay = errors.New("delay_ms must be a whole number of milliseconds, 0 or more; values above 10000 are capped")

// parseDelayMS accepts an absent value as 0 and caps large values instead of
// rejecting them, so load scripts can ask for "long" without knowing the cap.
func parseDelayMS(raw string) (int, error) {
	if raw == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil {
		var numErr *strconv.NumError
		if errors.As(err, &numErr) && errors.Is(numErr.Err, strconv.ErrRange) && raw[0] != '-' {
			return int(maxWorkDelay.Milliseconds()), nil
		}
		return 0, errBadDelay
	}
	if n < 0 {
		return 0, errBadDelay
	}
	return min(n, int(maxWorkDelay.Milliseconds())), nil
}

func (s *service) healthz(c *gin.Context) {
	s.reply(c, http.StatusOK, gin.H{"status": "alive"})
}

func (s *service) ready(c *gin.Context) {
	switch {
	case s.stopping.Load() && s.cfg.ReadinessFlip:
		s.reply(c, http.StatusServiceUnavailable, gin.H{"status": "shutting_down"})
	case !s.started.Load() && !s.cfg.ReadyLies:
		s.reply(c, http.StatusServiceUnavailable, gin.H{"status": "starting"})
	default:
		s.reply(c, http.StatusOK, gin.H{"status": "ready"})
	}
}

// startAfter marks the service started once STARTUP_DELAY has passed,
// standing in for a slow cache warm-up or connection pool.
func (s *service) startAfter(d time.Duration) {
	markStarted := func() {
		s.started.Store(true)
		s.log.Emit("ready", map[string]any{"startup_delay": d.String()})
	}
	if d <= 0 {
		markStarted()
		return
	}
	time.AfterFunc(d, markStarted)
}
