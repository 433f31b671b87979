// vCenter-like mode (-vcenter): a handler in front of vcsim's /sdk that behaves the way a real
// vCenter 7/8 does where vcsim 0.24.2 is kinder. It runs in the same process as the simulator, so
// it can create real simulator Task objects and fix inventory (extraConfig, custom values) after
// vcsim's own method ran. What it changes, and the public source for each, is in README.md.
package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"io/ioutil"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vmware/govmomi/vim25/soap"
)

type vcenter struct {
	inner    http.Handler
	versions []string // API versions served, highest first
	about    string   // About.fullName
	simUser  string
	simPass  string

	mu         sync.Mutex
	idle       time.Duration
	taskMs     int
	pageCap    int
	sessions   map[string]time.Time // client session key -> last call
	pages      map[string]*pending  // paging token -> what is left
	rules      []*taskRule
	tasks      map[string]*runningTask
	internal   string // session key the harness runs deferred task bodies with
	nameLock   sync.Mutex
	cancelled  int // CancelRetrievePropertiesEx calls that hit a live token (control/state)
	expiredCnt int
}

type pending struct {
	session string
	prefix  []byte // envelope up to and including <returnval>, response element renamed later
	suffix  []byte
	objects [][]byte
	size    int
}

func newVcenter(inner http.Handler, apiVersion, user, pass string, idle time.Duration, taskMs, pageCap int) *vcenter {
	return &vcenter{
		inner: inner, versions: versionsUpTo(apiVersion), about: fullName(apiVersion), simUser: user, simPass: pass,
		idle: idle, taskMs: taskMs, pageCap: pageCap,
		sessions: map[string]time.Time{}, pages: map[string]*pending{}, tasks: map[string]*runningTask{},
	}
}

// Methods vCenter answers without a session. Everything else needs one (vcsim lets the property
// collector through without a session; vCenter answers NotAuthenticated).
var noSession = map[string]bool{"RetrieveServiceContent": true, "Login": true, "LoginByToken": true, "LoginExtensionByCertificate": true}

func (v *vcenter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/sdk/vimServiceVersions.xml":
		v.serveVersions(w)
		return
	case strings.HasPrefix(r.URL.Path, "/shipshape-sim/"):
		v.control(w, r)
		return
	case (r.URL.Path != "/sdk" && r.URL.Path != "/sdk/vimService") || r.Method != http.MethodPost:
		v.inner.ServeHTTP(w, r)
		return
	}
	body, err := ioutil.ReadAll(r.Body)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if !v.soapActionOK(w, r) {
		return
	}
	req, err := parseRequest(body)
	if err != nil {
		v.relay(w, v.forward(r, body, ""))
		return
	}
	key := sessionKey(r)
	if !noSession[req.method] {
		if ok := v.touch(key); !ok {
			writeFault(w, "NotAuthenticated", refXML("object", req.this())+"<privilegeId>System.View</privilegeId>", "The session is not authenticated.")
			return
		}
	}
	switch {
	case req.method == "Login":
		v.login(w, r, body)
	case req.method == "Logout":
		v.relay(w, v.forward(r, body, key))
		v.dropSession(key)
	case req.method == "TerminateSession":
		v.terminate(w, r, body, req, key)
	case req.method == "RetrievePropertiesEx":
		v.retrieve(w, r, body, req, key)
	case req.method == "ContinueRetrievePropertiesEx":
		v.continueRetrieve(w, req, key)
	case req.method == "CancelRetrievePropertiesEx":
		v.cancelRetrieve(w, req, key)
	case req.method == "SetField":
		v.setField(w, r, body, req, key)
	case req.method == "CancelTask":
		v.cancelTask(w, req)
	case strings.HasSuffix(req.method, "_Task"):
		v.startTask(w, r, body, req, key)
	default:
		v.relay(w, v.forward(r, body, key))
	}
}

// soapActionOK accepts `urn:vim25/<version>` for every version this server speaks (vCenter picks the
// API version from SOAPAction) and refuses any other version the way vCenter does.
func (v *vcenter) soapActionOK(w http.ResponseWriter, r *http.Request) bool {
	a := strings.Trim(r.Header.Get("SOAPAction"), `"`)
	if a == "" || a == "urn:vim25" {
		return true
	}
	if strings.HasPrefix(a, "urn:vim25/") {
		want := strings.TrimPrefix(a, "urn:vim25/")
		for _, s := range v.versions {
			if s == want {
				return true
			}
		}
	}
	writeFault(w, "InvalidRequest", "", fmt.Sprintf("Unsupported version URI \"%s\"", a))
	return false
}

func (v *vcenter) serveVersions(w http.ResponseWriter) {
	var b strings.Builder
	b.WriteString(xml.Header + "<namespaces version=\"1.0\">\n <namespace>\n  <name>urn:vim25</name>\n")
	fmt.Fprintf(&b, "  <version>%s</version>\n  <priorVersions>\n", v.versions[0])
	for _, p := range v.versions[1:] {
		fmt.Fprintf(&b, "   <version>%s</version>\n", p)
	}
	b.WriteString("  </priorVersions>\n </namespace>\n</namespaces>\n")
	w.Header().Set("Content-Type", "text/xml")
	_, _ = io.WriteString(w, b.String())
}

func sessionKey(r *http.Request) string {
	if c, err := r.Cookie(soap.SessionCookieName); err == nil {
		return strings.Trim(c.Value, `"`)
	}
	return ""
}

// touch records a call on a client session; false when there is none or it was idle too long
// (then it is logged out in vcsim too, so its views and paging tokens die with it, as on vCenter).
func (v *vcenter) touch(key string) bool {
	v.mu.Lock()
	last, ok := v.sessions[key]
	expired := ok && v.idle > 0 && time.Since(last) > v.idle
	if ok && !expired {
		v.sessions[key] = time.Now()
	}
	v.mu.Unlock()
	if expired {
		v.expire(key)
		return false
	}
	return ok
}

func (v *vcenter) expire(key string) {
	v.forward(nil, []byte(envelope(`<Logout xmlns="urn:vim25"><_this type="SessionManager">SessionManager</_this></Logout>`)), key)
	v.dropSession(key)
	v.mu.Lock()
	v.expiredCnt++
	v.mu.Unlock()
}

// terminate: SessionManager.TerminateSession as vCenter has it. vcsim ends the sessions, but it lets
// the property collector through without a session, so a terminated client's reads would come back
// empty instead of NotAuthenticated: the harness forgets the sessions too.
func (v *vcenter) terminate(w http.ResponseWriter, r *http.Request, body []byte, req *request, key string) {
	rec := v.forward(r, body, key)
	if rec.Code == http.StatusOK {
		for _, n := range req.body.Nodes {
			if n.XMLName.Local == "sessionId" {
				v.dropSession(strings.TrimSpace(n.Text))
			}
		}
	}
	v.relay(w, rec)
}

func (v *vcenter) dropSession(key string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	delete(v.sessions, key)
	for t, p := range v.pages {
		if p.session == key {
			delete(v.pages, t)
		}
	}
}

// login forwards Login, remembers the session and answers with vCenter's cookie form (quoted
// value, Path=/, Secure).
func (v *vcenter) login(w http.ResponseWriter, r *http.Request, body []byte) {
	rec := v.forward(r, body, "")
	key := ""
	for _, c := range rec.Result().Cookies() {
		if c.Name == soap.SessionCookieName {
			key = c.Value
		}
	}
	rec.Header().Del("Set-Cookie")
	if key != "" {
		v.mu.Lock()
		v.sessions[key] = time.Now()
		v.mu.Unlock()
		w.Header().Add("Set-Cookie", fmt.Sprintf(`%s="%s"; Path=/; HttpOnly; Secure;`, soap.SessionCookieName, key))
	}
	v.relay(w, rec)
}

// forward runs a request through vcsim's own /sdk handler with the given session key.
func (v *vcenter) forward(r *http.Request, body []byte, key string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/sdk", bytes.NewReader(body))
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	if r != nil {
		req.Header.Set("User-Agent", r.UserAgent())
		req.RemoteAddr = r.RemoteAddr
	}
	if key != "" {
		req.Header.Set("Cookie", soap.SessionCookieName+"="+key)
	}
	rec := httptest.NewRecorder()
	v.inner.ServeHTTP(rec, req)
	return rec
}

// relay copies a recorded vcsim response to the client, with vCenter's fault string when it is a fault.
func (v *vcenter) relay(w http.ResponseWriter, rec *httptest.ResponseRecorder) {
	body := rec.Body.Bytes()
	if rec.Code == http.StatusInternalServerError {
		body = withVcenterFaultString(body)
	}
	for k, vals := range rec.Header() {
		if k == "Content-Length" {
			continue
		}
		for _, x := range vals {
			w.Header().Add(k, x)
		}
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(body)
}

// internalSession logs the harness itself in once: deferred task bodies run with it, so a task
// finishes even when the client's session expired meanwhile (vCenter tasks outlive sessions).
func (v *vcenter) internalSession() string {
	v.mu.Lock()
	key := v.internal
	v.mu.Unlock()
	if key != "" {
		return key
	}
	user, pass := v.simUser, v.simPass
	if user == "" {
		user, pass = "vcsim-internal", "vcsim-internal"
	}
	body := envelope(fmt.Sprintf(`<Login xmlns="urn:vim25"><_this type="SessionManager">SessionManager</_this><userName>%s</userName><password>%s</password></Login>`, xmlText(user), xmlText(pass)))
	rec := v.forward(nil, []byte(body), "")
	for _, c := range rec.Result().Cookies() {
		if c.Name == soap.SessionCookieName {
			key = c.Value
		}
	}
	v.mu.Lock()
	v.internal = key
	v.mu.Unlock()
	return key
}

// control: test hooks under /shipshape-sim/ (loopback test harness only).
//
//	POST /shipshape-sim/task-rule   {"method":"CloneVM_Task","name":"web-01","delayMs":3000,"fault":"InsufficientMemoryResourcesFault","count":1}
//	POST /shipshape-sim/expire-sessions   every client session ends now (as if idle too long)
//	POST /shipshape-sim/settings    {"idleMs":..,"taskMs":..,"pageCap":..}
//	GET  /shipshape-sim/state       sessions, open paging tokens, tasks
func (v *vcenter) control(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	switch r.URL.Path {
	case "/shipshape-sim/task-rule":
		var rule taskRule
		if err := json.NewDecoder(r.Body).Decode(&rule); err != nil || rule.Method == "" {
			http.Error(w, `{"error":"need {method, name?, delayMs?, fault?, count?}"}`, http.StatusBadRequest)
			return
		}
		v.mu.Lock()
		v.rules = append(v.rules, &rule)
		v.mu.Unlock()
		_, _ = io.WriteString(w, "{}")
	case "/shipshape-sim/expire-sessions":
		v.mu.Lock()
		keys := make([]string, 0, len(v.sessions))
		for k := range v.sessions {
			keys = append(keys, k)
		}
		v.mu.Unlock()
		for _, k := range keys {
			v.expire(k)
		}
		_, _ = fmt.Fprintf(w, `{"expired":%d}`, len(keys))
	case "/shipshape-sim/settings":
		var s struct {
			IdleMs  *int `json:"idleMs"`
			TaskMs  *int `json:"taskMs"`
			PageCap *int `json:"pageCap"`
		}
		if err := json.NewDecoder(r.Body).Decode(&s); err != nil {
			http.Error(w, `{"error":"bad json"}`, http.StatusBadRequest)
			return
		}
		v.mu.Lock()
		if s.IdleMs != nil {
			v.idle = time.Duration(*s.IdleMs) * time.Millisecond
		}
		if s.TaskMs != nil {
			v.taskMs = *s.TaskMs
		}
		if s.PageCap != nil {
			v.pageCap = *s.PageCap
		}
		v.mu.Unlock()
		_, _ = io.WriteString(w, "{}")
	case "/shipshape-sim/state":
		v.mu.Lock()
		tasks := []map[string]interface{}{}
		for ref, t := range v.tasks {
			tasks = append(tasks, map[string]interface{}{"task": ref, "method": t.method, "target": t.target, "state": t.state(), "cancelRequested": t.cancelRequested()})
		}
		st := map[string]interface{}{"sessions": len(v.sessions), "openTokens": len(v.pages), "cancelledTokens": v.cancelled, "expiredSessions": v.expiredCnt, "tasks": tasks}
		v.mu.Unlock()
		_ = json.NewEncoder(w).Encode(st)
	default:
		http.NotFound(w, r)
	}
}

func newToken() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func atoiOr(s string, d int) int {
	if n, err := strconv.Atoi(strings.TrimSpace(s)); err == nil {
		return n
	}
	return d
}
