// InvalidCollectorVersion on demand. vCenter answers WaitForUpdatesEx with the fault
// InvalidCollectorVersion when the version it is given is not one it handed out for that collector
// (vSphere Web Services API reference, PropertyCollector.WaitForUpdatesEx, faults); a client then
// starts over with an empty version, which reports the whole current state. vcsim 0.24.2 never
// raises it (it echoes any version back), so the harness does, on request (both modes):
//
//	POST /shipshape-sim/collector-version-fault   {"count":1,"delayMs":0}
//	GET  /shipshape-sim/collector-version-fault   {"pending":0,"raised":1}
//
// makes the next `count` WaitForUpdatesEx calls that carry a non-empty version fail with it, after
// holding each for `delayMs` (changes made meanwhile are what the client's resync must find).
package main

import (
	"bytes"
	"encoding/json"
	"io/ioutil"
	"net/http"
	"sync"
	"time"
)

type collectorFaults struct {
	inner   http.Handler
	mu      sync.Mutex
	pending int
	delay   time.Duration
	raised  int
}

var waitForUpdatesEx = []byte("WaitForUpdatesEx")

func (c *collectorFaults) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/shipshape-sim/collector-version-fault" {
		var in struct{ Count, DelayMs int }
		if r.Method == http.MethodPost && json.NewDecoder(r.Body).Decode(&in) != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		c.mu.Lock()
		if r.Method == http.MethodPost {
			c.pending = in.Count
			c.delay = time.Duration(in.DelayMs) * time.Millisecond
		}
		out := map[string]int{"pending": c.pending, "raised": c.raised}
		c.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
		return
	}
	if r.Method != http.MethodPost || (r.URL.Path != "/sdk" && r.URL.Path != "/sdk/vimService") {
		c.inner.ServeHTTP(w, r)
		return
	}
	c.mu.Lock()
	armed := c.pending > 0
	c.mu.Unlock()
	if !armed {
		c.inner.ServeHTTP(w, r)
		return
	}
	body, err := ioutil.ReadAll(r.Body)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	r.Body = ioutil.NopCloser(bytes.NewReader(body))
	if bytes.Contains(body, waitForUpdatesEx) {
		if req, err := parseRequest(body); err == nil && req.method == "WaitForUpdatesEx" && req.body.text("version") != "" {
			c.mu.Lock()
			fire := c.pending > 0
			delay := c.delay
			if fire {
				c.pending--
				c.raised++
			}
			c.mu.Unlock()
			if fire {
				time.Sleep(delay)
				writeFault(w, "InvalidCollectorVersion", "", "The collector version is not valid.")
				return
			}
		}
	}
	c.inner.ServeHTTP(w, r)
}
