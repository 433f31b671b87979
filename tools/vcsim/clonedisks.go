// A clone owns its devices. vcsim 0.24.2's CloneVM_Task hands the source VM's device objects to
// the new VM: it clears the source's disk backing fileName in place and CreateVM fills in the
// clone's path, so the source (a template) and its latest clone share one VirtualDisk object, and
// the next clone of that template rewrites the path the previous clone's disk shows (reported
// upstream as vmware/govmomi#2706, "the cloned VM share config.hardware.device", fixed after
// 0.24.2). What that does to a client that edits disks as read (govc `vm.disk.change` and the
// pyVmomi samples send the device back with its backing; so does shipshape): a disk grow of the
// earlier clone names the later clone's files, so both VMs now point at one file, and destroying
// either (vcsim deletes a destroyed VM's disk files) leaves the other with a disk whose file is
// gone: every later edit of it fails with FileNotFound.
//
// vCenter never does this: a full clone copies every disk into the new VM's own folder (the
// default VirtualMachineRelocateSpec.diskMoveType, moveAllDiskBackingsAndDisallowSharing,
// "all of the virtual disk's backings should be moved ... sharing is not allowed", vSphere Web
// Services API reference), and the source is not changed. So the harness puts back a copy of the
// source's device list after each clone: the clone keeps the objects vcsim filled in, the template
// keeps its own. Both modes (this runs below the vCenter-like handler, where its tasks do the work).
package main

import (
	"bytes"
	"sync"

	"github.com/google/uuid"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
	"github.com/vmware/govmomi/vim25/xml"
)

// cloneMu keeps a clone and the restoring of its source together: a second clone of the same
// source in between would otherwise hand out the objects the first one is about to keep.
var cloneMu sync.Mutex

// copyDevices deep-copies a device list the way vcsim copies objects (XML encode and decode with
// the vim25 type registry, so every device keeps its concrete type).
func copyDevices(devices []types.BaseVirtualDevice) ([]types.BaseVirtualDevice, bool) {
	b, err := xml.Marshal(types.VirtualHardware{Device: devices})
	if err != nil {
		return nil, false
	}
	var out types.VirtualHardware
	dec := xml.NewDecoder(bytes.NewReader(b))
	dec.TypeFunc = types.TypeFunc()
	if err := dec.Decode(&out); err != nil {
		return nil, false
	}
	return out.Device, true
}

// keepSourceDevices copies the source VM's device list now and returns what puts it back.
func keepSourceDevices(ref types.ManagedObjectReference) func() {
	vm, ok := simulator.Map.Get(ref).(*simulator.VirtualMachine)
	if !ok {
		return func() {}
	}
	var saved []types.BaseVirtualDevice
	copied := false
	simulator.Map.WithLock(vm, func() {
		if vm.Config != nil {
			saved, copied = copyDevices(vm.Config.Hardware.Device)
		}
	})
	if !copied {
		return func() {}
	}
	return func() {
		simulator.Map.WithLock(vm, func() {
			if vm.Config != nil {
				vm.Config.Hardware.Device = saved
			}
		})
	}
}

// A new VM gets an instanceUuid of its own. vcsim 0.24.2 derives it from the VM's path (newUUID of
// "[datastore] name/name.vmx"), so a VM destroyed and made again under the same name comes back
// with the same instanceUuid. vCenter assigns a new one to every VM it creates or clones unless the
// spec sets one ("VirtualCenter-specific 128-bit UUID of a virtual machine ... used by VirtualCenter to
// uniquely identify all virtual machine instances", VirtualMachineConfigInfo.instanceUuid, vSphere Web
// Services API reference), and shipshape tells a re-made VM from the old one by it (an install record
// belongs to the VM it installed). So after a clone that sets none, the harness gives the clone a random one.
func freshInstanceUuid(ref types.ManagedObjectReference) {
	vm, ok := simulator.Map.Get(ref).(*simulator.VirtualMachine)
	if !ok {
		return
	}
	id := uuid.New().String()
	simulator.Map.WithLock(vm, func() {
		if vm.Config != nil {
			vm.Config.InstanceUuid = id
		}
		vm.Summary.Config.InstanceUuid = id
	})
}
