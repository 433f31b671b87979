// RetrievePropertiesEx paging as vCenter does it: at most `maxObjects` objects per result (or the
// server's own cap when the client sets none), the rest behind a `token` that
// ContinueRetrievePropertiesEx redeems once, in the same session, and CancelRetrievePropertiesEx
// drops. vcsim 0.24.2 returns everything at once and answers both methods MethodNotFound.
// Also here: SetField replacing a custom value instead of appending a second one.
package main

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"net/http"
	"strings"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

func (v *vcenter) retrieve(w http.ResponseWriter, r *http.Request, body []byte, req *request, key string) {
	rec := v.forward(r, body, key)
	if rec.Code != http.StatusOK {
		v.relay(w, rec)
		return
	}
	v.mu.Lock()
	size := v.pageCap
	v.mu.Unlock()
	if opts := req.body.child("options"); opts != nil && opts.text("maxObjects") != "" {
		n := atoiOr(opts.text("maxObjects"), 0)
		if n <= 0 {
			writeFault(w, "InvalidArgument", "<invalidProperty>maxObjects</invalidProperty>", faultText("InvalidArgument", func(string) string { return "maxObjects" }))
			return
		}
		size = n
	}
	p, err := splitResult(rec.Body.Bytes())
	if err != nil || size <= 0 || len(p.objects) <= size {
		v.relay(w, rec)
		return
	}
	p.session, p.size = key, size
	v.writePage(w, "RetrievePropertiesExResponse", p)
}

// writePage answers with the next page of p and a token for the rest, if any.
func (v *vcenter) writePage(w http.ResponseWriter, response string, p *pending) {
	n := p.size
	if n > len(p.objects) {
		n = len(p.objects)
	}
	page, rest := p.objects[:n], p.objects[n:]
	var b bytes.Buffer
	b.Write(bytes.Replace(p.prefix, []byte("RetrievePropertiesExResponse"), []byte(response), 1))
	for _, o := range page {
		b.Write(o)
	}
	if len(rest) > 0 {
		tok := newToken()
		v.mu.Lock()
		v.pages[tok] = &pending{session: p.session, prefix: p.prefix, suffix: p.suffix, objects: rest, size: p.size}
		v.mu.Unlock()
		fmt.Fprintf(&b, "<token>%s</token>", tok)
	}
	b.Write(bytes.Replace(p.suffix, []byte("RetrievePropertiesExResponse"), []byte(response), 1))
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b.Bytes())
}

// take removes a token: it is valid once, and only in the session it was handed to.
func (v *vcenter) take(req *request, key string) *pending {
	tok := req.body.text("token")
	v.mu.Lock()
	defer v.mu.Unlock()
	p := v.pages[tok]
	if p == nil || p.session != key {
		return nil
	}
	delete(v.pages, tok)
	return p
}

func (v *vcenter) continueRetrieve(w http.ResponseWriter, req *request, key string) {
	p := v.take(req, key)
	if p == nil {
		writeFault(w, "InvalidArgument", "<invalidProperty>token</invalidProperty>", faultText("InvalidArgument", func(string) string { return "token" }))
		return
	}
	v.writePage(w, "ContinueRetrievePropertiesExResponse", p)
}

func (v *vcenter) cancelRetrieve(w http.ResponseWriter, req *request, key string) {
	if v.take(req, key) == nil {
		writeFault(w, "InvalidArgument", "<invalidProperty>token</invalidProperty>", faultText("InvalidArgument", func(string) string { return "token" }))
		return
	}
	v.mu.Lock()
	v.cancelled++
	v.mu.Unlock()
	writeResponse(w, "CancelRetrievePropertiesEx", "")
}

// splitResult cuts vcsim's response into the part before the first object, each top-level
// <objects> element as written, and the part after the last (byte copies: no re-encoding).
func splitResult(b []byte) (*pending, error) {
	d := xml.NewDecoder(bytes.NewReader(b))
	depth, rvDepth := 0, -1
	p := &pending{}
	contentStart, objStart := -1, -1
	for {
		off := int(d.InputOffset())
		t, err := d.RawToken()
		if err != nil {
			break
		}
		switch e := t.(type) {
		case xml.StartElement:
			depth++
			if rvDepth < 0 && e.Name.Local == "returnval" {
				rvDepth = depth
				contentStart = int(d.InputOffset())
			} else if rvDepth >= 0 && depth == rvDepth+1 && e.Name.Local == "objects" {
				objStart = off
			}
		case xml.EndElement:
			if rvDepth >= 0 && depth == rvDepth+1 && e.Name.Local == "objects" && objStart >= 0 {
				p.objects = append(p.objects, b[objStart:d.InputOffset()])
				objStart = -1
			} else if depth == rvDepth && e.Name.Local == "returnval" {
				p.prefix = b[:contentStart]
				p.suffix = b[off:]
				return p, nil
			}
			depth--
		}
	}
	return nil, fmt.Errorf("no returnval")
}

// setField: vCenter replaces a custom field's value; vcsim appends another entry with the same key
// (and panics on an unknown entity, which vCenter answers with ManagedObjectNotFound).
func (v *vcenter) setField(w http.ResponseWriter, r *http.Request, body []byte, req *request, key string) {
	ref := req.body.ref("entity")
	obj, ok := simulator.Map.Get(ref).(mo.Entity)
	if !ok {
		writeFault(w, "ManagedObjectNotFound", refXML("obj", ref), faultText("ManagedObjectNotFound", func(k string) string {
			if k == "obj.type" {
				return ref.Type
			}
			return ref.Value
		}))
		return
	}
	rec := v.forward(r, body, key)
	if rec.Code == http.StatusOK {
		simulator.Map.WithLock(obj, func() {
			e := obj.Entity()
			e.CustomValue = lastPerKey(e.CustomValue)
			e.Value = lastPerKey(e.Value)
		})
	}
	v.relay(w, rec)
}

func lastPerKey(in []types.BaseCustomFieldValue) []types.BaseCustomFieldValue {
	at := map[int32]int{}
	var out []types.BaseCustomFieldValue
	for _, cv := range in {
		k := cv.GetCustomFieldValue().Key
		if i, ok := at[k]; ok {
			out[i] = cv
			continue
		}
		at[k] = len(out)
		out = append(out, cv)
	}
	return out
}

// replaceExtraConfig gives a VM vCenter's extraConfig semantics after vcsim appended: one entry
// per key (the last one written), and an empty value removes the key.
func replaceExtraConfig(ref types.ManagedObjectReference) {
	vm, ok := simulator.Map.Get(ref).(*simulator.VirtualMachine)
	if !ok || vm.Config == nil {
		return
	}
	simulator.Map.WithLock(vm, func() {
		at := map[string]int{}
		var out []types.BaseOptionValue
		for _, ov := range vm.Config.ExtraConfig {
			o := ov.GetOptionValue()
			if i, ok := at[o.Key]; ok {
				out[i] = ov
				continue
			}
			at[o.Key] = len(out)
			out = append(out, ov)
		}
		kept := out[:0]
		for _, ov := range out {
			if s, isStr := ov.GetOptionValue().Value.(string); isStr && strings.TrimSpace(s) == "" {
				continue
			}
			kept = append(kept, ov)
		}
		vm.Config.ExtraConfig = kept
	})
}
