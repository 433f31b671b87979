// config.changeVersion, which vcsim 0.24.2 leaves empty: vCenter changes it on every change of a
// VM's configuration ("The changeVersion is a unique identifier for a given version of the
// configuration. Each change to the configuration updates this value.", VirtualMachineConfigInfo in
// the vSphere Web Services API reference). shipshape's observe reads device lists only for VMs whose
// changeVersion moved, so the harness gives every VM one at start and a new one after every call
// made on that VM (ReconfigVM_Task, Rename_Task, MarkAsTemplate, …: more often than vCenter, never
// less), and the clone a CloneVM_Task made gets its own. Both modes, below the vCenter-like handler.
// A new changeVersion is published to the property collectors (WaitForUpdatesEx reports it); vcsim
// 0.24.2 reports none of ReconfigVM_Task's own changes (numCPU, memoryMB are set without Map.Update).
package main

import (
	"bytes"
	"fmt"
	"io/ioutil"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

var changeSeq int64

func nextChangeVersion() string {
	// vCenter's values look like an ISO time; a sequence number keeps two changes in one instant apart.
	return fmt.Sprintf("%s.%d", time.Now().UTC().Format("2006-01-02T15:04:05.000000Z"), atomic.AddInt64(&changeSeq, 1))
}

func bumpChangeVersion(ref types.ManagedObjectReference) {
	vm, ok := simulator.Map.Get(ref).(*simulator.VirtualMachine)
	if !ok {
		return
	}
	simulator.Map.WithLock(vm, func() {
		if vm.Config != nil {
			// Through Map.Update, so property collectors with a filter on the VM report the change in
			// WaitForUpdatesEx, as later govmomi does (virtual_machine.go, updateLastModifiedAndChangeVersion).
			simulator.Map.Update(vm, []types.PropertyChange{{Name: "config.changeVersion", Val: nextChangeVersion()}})
		}
	})
}

// initChangeVersions gives every VM of the model a changeVersion.
func initChangeVersions() {
	for _, e := range simulator.Map.All("VirtualMachine") {
		if vm, ok := e.(*simulator.VirtualMachine); ok && vm.Config != nil {
			vm.Config.ChangeVersion = nextChangeVersion()
		}
	}
}

var vmThis = []byte(`type="VirtualMachine"`)

type changeVersions struct{ inner http.Handler }

func (c changeVersions) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || (r.URL.Path != "/sdk" && r.URL.Path != "/sdk/vimService") {
		c.inner.ServeHTTP(w, r)
		return
	}
	body, err := ioutil.ReadAll(r.Body)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	r.Body = ioutil.NopCloser(bytes.NewReader(body))
	// Cheap filter first: property reads (the big requests) never name a VM as _this.
	if !bytes.Contains(body, vmThis) {
		c.inner.ServeHTTP(w, r)
		return
	}
	req, err := parseRequest(body)
	if err != nil || req.this().Type != "VirtualMachine" {
		c.inner.ServeHTTP(w, r)
		return
	}
	rec := httptest.NewRecorder()
	if req.method == "CloneVM_Task" {
		// The clone gets its own devices and the source keeps its own (clonedisks.go).
		cloneMu.Lock()
		restore := keepSourceDevices(req.this())
		c.inner.ServeHTTP(rec, r)
		restore()
		cloneMu.Unlock()
	} else {
		c.inner.ServeHTTP(rec, r)
	}
	bumpChangeVersion(req.this())
	syncMembership(req.this()) // members.go
	if req.method == "CloneVM_Task" {
		if task := taskOf(rec.Body.Bytes()); task != nil {
			var made types.AnyType
			simulator.Map.WithLock(task, func() { made = task.Info.Result })
			if ref, ok := made.(types.ManagedObjectReference); ok {
				bumpChangeVersion(ref)
				syncMembership(ref)
				if spec := req.body.child("spec"); spec == nil || spec.child("config") == nil || spec.child("config").text("instanceUuid") == "" {
					freshInstanceUuid(ref) // clonedisks.go
				}
			}
		}
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

// taskOf: the simulator Task a `…_TaskResponse` returned (vcsim's tasks have finished by then).
func taskOf(resp []byte) *simulator.Task {
	req, err := parseRequest(resp)
	if err != nil {
		return nil
	}
	t, _ := simulator.Map.Get(req.body.ref("returnval")).(*simulator.Task)
	return t
}
