// Tasks as vCenter runs them: a `*_Task` call returns a Task at once; the task sits `queued`, then
// `running` with `info.progress` rising, for a configurable time, and only then does the work
// happen (vcsim's own method, run with the harness's internal session) or fail with a fault that
// exists only in `info.error`. Clone and create tasks are cancelable (CancelTask), others are not.
// Duplicate VM names in a folder fail the task with DuplicateName, as vCenter does.
package main

import (
	"encoding/xml"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// taskRule shapes the next matching task(s): how long it runs and the fault it ends with.
type taskRule struct {
	Method  string            `json:"method"`
	Name    string            `json:"name,omitempty"` // the new VM's name (clone/create) or the target entity's name
	DelayMs int               `json:"delayMs,omitempty"`
	Fault   string            `json:"fault,omitempty"`
	Fields  map[string]string `json:"fields,omitempty"`
	Count   int               `json:"count,omitempty"` // 0: every matching task
}

type runningTask struct {
	mu        sync.Mutex
	method    string
	target    string
	task      *simulator.Task
	cancel    bool
	done      bool
	canCancel bool
}

func (t *runningTask) state() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done {
		return "done"
	}
	return "running"
}

func (t *runningTask) cancelRequested() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.cancel
}

var cancelable = map[string]bool{"CloneVM_Task": true, "CreateVM_Task": true, "RelocateVM_Task": true, "MigrateVM_Task": true}

func (v *vcenter) rule(method, name string) *taskRule {
	v.mu.Lock()
	defer v.mu.Unlock()
	for i, r := range v.rules {
		if r.Method != method || (r.Name != "" && r.Name != name) {
			continue
		}
		if r.Count > 0 {
			r.Count--
			if r.Count == 0 {
				v.rules = append(v.rules[:i], v.rules[i+1:]...)
			}
		}
		return r
	}
	return nil
}

// targetName: the name a task is about, for rules and messages.
func targetName(req *request) string {
	switch req.method {
	case "CloneVM_Task":
		return req.body.text("name")
	case "CreateVM_Task":
		return req.body.child("config").text("name")
	}
	if e, ok := simulator.Map.Get(req.this()).(mo.Entity); ok {
		return e.Entity().Name
	}
	return ""
}

func (v *vcenter) startTask(w http.ResponseWriter, r *http.Request, body []byte, req *request, key string) {
	this := req.this()
	obj := simulator.Map.Get(this)
	if obj == nil {
		// vCenter checks `_this` before it makes a task: a SOAP fault, not a task error.
		v.relay(w, v.forward(r, body, key))
		return
	}
	name := targetName(req)
	rule := v.rule(req.method, name)
	v.mu.Lock()
	delay := v.taskMs
	v.mu.Unlock()
	if rule != nil && rule.DelayMs > 0 {
		delay = rule.DelayMs
	}
	id := strings.Replace(strings.TrimSuffix(req.method, "_Task"), "VM", "Vm", 1) + "Task"
	task := simulator.CreateTask(obj, id, nil)
	rt := &runningTask{method: req.method, target: name, task: task, canCancel: cancelable[req.method]}
	simulator.Map.WithLock(task, func() {
		simulator.Map.Update(task, []types.PropertyChange{{Name: "info.cancelable", Val: rt.canCancel}, {Name: "info.entityName", Val: name}})
	})
	v.mu.Lock()
	v.tasks[task.Self.Value] = rt
	v.mu.Unlock()
	go v.run(rt, req, body, time.Duration(delay)*time.Millisecond, rule)
	writeResponse(w, req.method, refXML("returnval", task.Self))
}

func (v *vcenter) run(rt *runningTask, req *request, body []byte, d time.Duration, rule *taskRule) {
	t := rt.task
	update := func(ch ...types.PropertyChange) {
		simulator.Map.WithLock(t, func() { simulator.Map.Update(t, ch) })
	}
	finish := func(res types.AnyType, fault types.BaseMethodFault) {
		var e interface{}
		state := types.TaskInfoStateSuccess
		if fault != nil {
			state = types.TaskInfoStateError
			e = types.LocalizedMethodFault{Fault: fault, LocalizedMessage: methodFaultText(fault)}
		}
		update(types.PropertyChange{Name: "info.completeTime", Val: time.Now()}, types.PropertyChange{Name: "info.state", Val: state},
			types.PropertyChange{Name: "info.result", Val: res}, types.PropertyChange{Name: "info.error", Val: e})
		rt.mu.Lock()
		rt.done = true
		rt.mu.Unlock()
		// Forget it after a while (the Task object stays, like vcsim's own): a long lab run stays small.
		time.AfterFunc(5*time.Minute, func() {
			v.mu.Lock()
			delete(v.tasks, t.Self.Value)
			v.mu.Unlock()
		})
	}
	cancelled := func() bool { return rt.cancelRequested() }

	// queued for a tenth of the time, at most half a second (vCenter queues tasks per entity),
	// then running with progress
	queue := d / 10
	if queue > 500*time.Millisecond {
		queue = 500 * time.Millisecond
	}
	time.Sleep(queue)
	if cancelled() {
		finish(nil, &types.RequestCanceled{})
		return
	}
	// Under nameLock: a clone being executed registers its VM in the folder before it has a name,
	// and vcsim's FindByName panics on a nameless entity (seen with 16 clones at once).
	v.nameLock.Lock()
	dup := duplicateName(req)
	v.nameLock.Unlock()
	if dup != nil {
		finish(nil, dup)
		return
	}
	update(types.PropertyChange{Name: "info.startTime", Val: time.Now()}, types.PropertyChange{Name: "info.state", Val: types.TaskInfoStateRunning},
		types.PropertyChange{Name: "info.progress", Val: int32(0)})
	step := d / 10
	if step < 20*time.Millisecond {
		step = 20 * time.Millisecond
	}
	start, run := time.Now(), d-queue
	for time.Since(start) < run {
		time.Sleep(step)
		if cancelled() {
			finish(nil, &types.RequestCanceled{})
			return
		}
		p := int32(time.Since(start) * 100 / run)
		if p > 99 {
			p = 99
		}
		update(types.PropertyChange{Name: "info.progress", Val: p})
	}
	if rule != nil && rule.Fault != "" {
		finish(nil, makeFault(rule.Fault, rule.Fields))
		return
	}
	// The work itself, serialised per name so two creates of one name cannot both pass the check.
	v.nameLock.Lock()
	defer v.nameLock.Unlock()
	if f := duplicateName(req); f != nil {
		finish(nil, f)
		return
	}
	res, fault := v.execute(body)
	if fault == nil {
		switch req.method {
		case "ReconfigVM_Task":
			replaceExtraConfig(req.this())
		case "CloneVM_Task", "CreateVM_Task":
			if ref, ok := res.(types.ManagedObjectReference); ok {
				replaceExtraConfig(ref)
			}
		}
	}
	finish(res, fault)
}

// execute runs the original request through vcsim (its tasks finish before the call returns)
// and reads the outcome of vcsim's own task.
func (v *vcenter) execute(body []byte) (types.AnyType, types.BaseMethodFault) {
	resp, err := v.executeAs(body, v.internalSession())
	if notAuthenticated(resp) {
		// The harness's own session was ended (an administrator's TerminateSession of every
		// session, or vcsim's idle timeout). vCenter runs task bodies as itself, which no client
		// can log out: log in again and run the body, as vCenter would have.
		v.mu.Lock()
		v.internal = ""
		v.mu.Unlock()
		resp, err = v.executeAs(body, v.internalSession())
	}
	if err != nil {
		return nil, err
	}
	if f := resp.child("Fault"); f != nil {
		d := f.child("detail")
		if d == nil || len(d.Nodes) == 0 {
			return nil, &types.SystemError{Reason: f.text("faultstring")}
		}
		return faultFromNode(&d.Nodes[0]), nil
	}
	inner, ok := simulator.Map.Get(resp.Nodes[0].ref("returnval")).(*simulator.Task)
	if !ok {
		return nil, &types.SystemError{Reason: "simulator returned no task"}
	}
	var res types.AnyType
	var fault types.BaseMethodFault
	simulator.Map.WithLock(inner, func() {
		res = inner.Info.Result
		if inner.Info.Error != nil {
			fault = inner.Info.Error.Fault
		}
	})
	return res, fault
}

// notAuthenticated: the response is vcsim's NotAuthenticated fault (its session is gone).
func notAuthenticated(resp *xnode) bool {
	d := resp.child("Fault").child("detail")
	if d == nil || len(d.Nodes) == 0 {
		return false
	}
	name := d.Nodes[0].attr("type")
	if name == "" {
		name = strings.TrimSuffix(d.Nodes[0].XMLName.Local, "Fault")
	}
	return name == "NotAuthenticated"
}

// executeAs forwards a task's request with the given session and returns the response's Body.
func (v *vcenter) executeAs(body []byte, key string) (*xnode, types.BaseMethodFault) {
	rec := v.forward(nil, body, key)
	var env xnode
	if err := xml.Unmarshal(rec.Body.Bytes(), &env); err != nil {
		return nil, &types.SystemError{Reason: "unreadable simulator response"}
	}
	resp := env.child("Body")
	if resp == nil || len(resp.Nodes) == 0 {
		return nil, &types.SystemError{Reason: "empty simulator response"}
	}
	return resp, nil
}

// duplicateName: vCenter refuses a second VM of the same name in one folder.
func duplicateName(req *request) types.BaseMethodFault {
	var folderRef types.ManagedObjectReference
	var name string
	switch req.method {
	case "CloneVM_Task":
		folderRef, name = req.body.ref("folder"), req.body.text("name")
	case "CreateVM_Task":
		folderRef, name = req.this(), req.body.child("config").text("name")
	case "ReconfigVM_Task": // a rename through spec.name
		name = req.body.child("spec").text("name")
		if vm, ok := simulator.Map.Get(req.this()).(*simulator.VirtualMachine); ok && vm.Parent != nil {
			folderRef = *vm.Parent
		}
	default:
		return nil
	}
	folder, ok := simulator.Map.Get(folderRef).(*simulator.Folder)
	if !ok || name == "" {
		return nil
	}
	var found mo.Entity
	simulator.Map.WithLock(folder, func() { found = simulator.Map.FindByName(name, folder.ChildEntity) })
	if found == nil || found.Reference() == req.this() {
		return nil
	}
	return &types.DuplicateName{Name: name, Object: folderRef}
}

func (v *vcenter) cancelTask(w http.ResponseWriter, req *request) {
	ref := req.this()
	v.mu.Lock()
	rt := v.tasks[ref.Value]
	v.mu.Unlock()
	if rt == nil {
		if simulator.Map.Get(ref) == nil {
			writeFault(w, "ManagedObjectNotFound", refXML("obj", ref), faultText("ManagedObjectNotFound", func(k string) string {
				if k == "obj.type" {
					return ref.Type
				}
				return ref.Value
			}))
			return
		}
		writeFault(w, "InvalidState", "", faultText("InvalidState", nil)) // vcsim's own tasks are always finished
		return
	}
	rt.mu.Lock()
	done, can := rt.done || rt.cancel, rt.canCancel
	if !done && can {
		rt.cancel = true
	}
	rt.mu.Unlock()
	switch {
	case done:
		writeFault(w, "InvalidState", "", faultText("InvalidState", nil))
	case !can:
		writeFault(w, "NotSupported", "", faultText("NotSupported", nil))
	default:
		writeResponse(w, "CancelTask", "")
	}
}

// makeFault builds a vim25 fault by type name (e.g. InsufficientMemoryResourcesFault) with its
// well-known fields, for rules that make a task fail.
func makeFault(name string, fields map[string]string) types.BaseMethodFault {
	t, ok := types.TypeFunc()(name)
	if !ok {
		return &types.SystemError{Reason: "unknown fault " + name}
	}
	f, ok := reflect.New(t).Interface().(types.BaseMethodFault)
	if !ok {
		return &types.SystemError{Reason: name + " is not a fault"}
	}
	switch x := f.(type) {
	case *types.FileNotFound:
		x.File = fields["file"]
	case *types.DuplicateName:
		x.Name = fields["name"]
	case *types.InvalidArgument:
		x.InvalidProperty = fields["invalidProperty"]
	case *types.InvalidPowerState:
		x.ExistingState = types.VirtualMachinePowerState(fields["existingState"])
		x.RequestedState = types.VirtualMachinePowerState(fields["requestedState"])
	case *types.InsufficientMemoryResourcesFault:
		x.Unreserved, x.Requested = 1<<30, 4<<30
	case *types.NoPermission:
		x.PrivilegeId = fields["privilegeId"]
		x.Object = types.ManagedObjectReference{Type: fields["objectType"], Value: fields["object"]}
	}
	return f
}

// faultFromNode decodes a fault detail element into its vim25 type (fields by their XML tags).
func faultFromNode(d *xnode) types.BaseMethodFault {
	name := d.attr("type")
	if name == "" {
		name = strings.TrimSuffix(d.XMLName.Local, "Fault")
	}
	t, ok := types.TypeFunc()(name)
	if !ok {
		return &types.SystemError{Reason: name}
	}
	f, ok := reflect.New(t).Interface().(types.BaseMethodFault)
	if !ok {
		return &types.SystemError{Reason: name}
	}
	raw, err := xml.Marshal(d)
	if err == nil {
		_ = xml.Unmarshal(raw, f)
	}
	return f
}

// methodFaultText is vCenter's localizedMessage for a task fault (vcsim writes the Go type name).
func methodFaultText(f types.BaseMethodFault) string {
	name := reflect.TypeOf(f).Elem().Name()
	field := func(k string) string {
		switch x := f.(type) {
		case *types.DuplicateName:
			if k == "name" {
				return x.Name
			}
		case *types.InvalidPowerState:
			if k == "existingState" {
				return string(x.ExistingState)
			}
		case *types.InvalidArgument:
			return x.InvalidProperty
		case *types.FileNotFound:
			return x.File
		case *types.NoPermission:
			return x.PrivilegeId
		case *types.ManagedObjectNotFound:
			if k == "obj.type" {
				return x.Obj.Type
			}
			return x.Obj.Value
		}
		return ""
	}
	if s := faultText(name, field); s != "" {
		return s
	}
	return name
}
