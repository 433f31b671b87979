// The inverse lists of a VM's location: ResourcePool.vm (VirtualApp.vm) and HostSystem.vm list the
// VMs whose `resourcePool` and `runtime.host` name them, in vCenter always. vcsim 0.24.2 keeps them
// only when a VM is created or destroyed: RelocateVM_Task removes the new pool's and host's own
// reference from their lists instead of moving the VM (virtual_machine.go, RelocateVMTask), and
// MarkAsTemplate / MarkAsVirtualMachine clear and set `resourcePool` without touching the lists (a
// template belongs to no pool: `VirtualMachine.resourcePool` is unset for a template, vSphere Web
// Services API reference). shipshape's observe reads a VM's location from these lists, so after
// every call made on a VM the harness puts it in the lists its properties name and takes it out of
// the others, in both modes. Folder.childEntity vcsim keeps itself (MoveIntoFolder_Task).
package main

import (
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

func syncMembership(ref types.ManagedObjectReference) {
	var pool, host *types.ManagedObjectReference
	if vm, ok := simulator.Map.Get(ref).(*simulator.VirtualMachine); ok {
		simulator.Map.WithLock(vm, func() {
			if vm.ResourcePool != nil {
				p := *vm.ResourcePool
				pool = &p
			}
			if vm.Runtime.Host != nil {
				h := *vm.Runtime.Host
				host = &h
			}
		})
	}
	place := func(obj mo.Reference, self types.ManagedObjectReference, list *[]types.ManagedObjectReference, want *types.ManagedObjectReference) {
		simulator.Map.WithLock(obj, func() {
			in := simulator.FindReference(*list, ref) != nil
			if want != nil && *want == self {
				if !in {
					*list = append(*list, ref)
				}
			} else if in {
				simulator.RemoveReference(list, ref)
			}
		})
	}
	for _, e := range simulator.Map.All("ResourcePool") {
		if p, ok := e.(*simulator.ResourcePool); ok {
			place(p, p.Self, &p.Vm, pool)
		}
	}
	for _, e := range simulator.Map.All("VirtualApp") {
		if p, ok := e.(*simulator.VirtualApp); ok {
			place(p, p.Self, &p.Vm, pool)
		}
	}
	for _, e := range simulator.Map.All("HostSystem") {
		if h, ok := e.(*simulator.HostSystem); ok {
			place(h, h.Self, &h.Vm, host)
		}
	}
}
