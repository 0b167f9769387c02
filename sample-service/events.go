package main

import (
	"bytes"
	"encoding/json"
	"io"
	"sort"
	"sync"
	"time"
)

// eventLog writes one JSON object per line. The harness lines these up with
// its own request records, so every line carries a wall-clock timestamp with
// full precision and is written with a single Write call: a line is never
// split, even when the process exits right after it.
type eventLog struct {
	mu  sync.Mutex
	out io.Writer
	now func() time.Time
}

func newEventLog(out io.Writer) *eventLog {
	return &eventLog{out: out, now: time.Now}
}

// Emit logs event with extra fields. "ts" and "event" come first so the lines
// stay readable with plain tools; the other keys follow in sorted order.
func (l *eventLog) Emit(event string, fields map[string]any) {
	var b bytes.Buffer
	b.WriteString(`{"ts":`)
	writeJSON(&b, l.now().UTC().Format(time.RFC3339Nano))
	b.WriteString(`,"event":`)
	writeJSON(&b, event)

	keys := make([]string, 0, len(fields))
	for k := range fields {
		if k != "ts" && k != "event" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		b.WriteByte(',')
		writeJSON(&b, k)
		b.WriteByte(':')
		writeJSON(&b, fields[k])
	}
	b.WriteString("}\n")

	l.mu.Lock()
	defer l.mu.Unlock()
	_, _ = l.out.Write(b.Bytes())
}

func writeJSON(b *bytes.Buffer, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		// Every value logged here is a plain string, number or map of them;
		// should that ever change, keep the line valid JSON anyway.
		data, _ = json.Marshal(err.Error())
	}
	b.Write(data)
}
