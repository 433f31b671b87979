// SOAP plumbing for the vCenter-like mode: a generic XML tree for requests, envelopes and faults
// written the way vCenter writes them, and vCenter's fault texts (README.md names the sources).
package main

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/vmware/govmomi/vim25/types"
)

type xnode struct {
	XMLName xml.Name
	Attrs   []xml.Attr `xml:",any,attr"`
	Nodes   []xnode    `xml:",any"`
	Text    string     `xml:",chardata"`
}

func (n *xnode) child(name string) *xnode {
	if n == nil {
		return nil
	}
	for i := range n.Nodes {
		if n.Nodes[i].XMLName.Local == name {
			return &n.Nodes[i]
		}
	}
	return nil
}

func (n *xnode) text(name string) string {
	if c := n.child(name); c != nil {
		return strings.TrimSpace(c.Text)
	}
	return ""
}

func (n *xnode) attr(local string) string {
	if n == nil {
		return ""
	}
	for _, a := range n.Attrs {
		if a.Name.Local == local {
			return a.Value
		}
	}
	return ""
}

func (n *xnode) ref(name string) types.ManagedObjectReference {
	c := n.child(name)
	if c == nil {
		return types.ManagedObjectReference{}
	}
	return types.ManagedObjectReference{Type: c.attr("type"), Value: strings.TrimSpace(c.Text)}
}

type request struct {
	method string
	body   *xnode // the method element
}

func (r *request) this() types.ManagedObjectReference { return r.body.ref("_this") }

func parseRequest(b []byte) (*request, error) {
	var env xnode
	if err := xml.Unmarshal(b, &env); err != nil {
		return nil, err
	}
	body := env.child("Body")
	if body == nil || len(body.Nodes) == 0 {
		return nil, fmt.Errorf("no SOAP body")
	}
	return &request{method: body.Nodes[0].XMLName.Local, body: &body.Nodes[0]}, nil
}

const envOpen = `<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
	`<soapenv:Envelope xmlns:soapenc="http://schemas.xmlsoap.org/soap/encoding/" xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>`
const envClose = `</soapenv:Body></soapenv:Envelope>`

func envelope(inner string) string { return envOpen + inner + envClose }

func xmlText(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

func refXML(name string, r types.ManagedObjectReference) string {
	if r.Value == "" {
		return ""
	}
	return fmt.Sprintf(`<%s type="%s">%s</%s>`, name, xmlText(r.Type), xmlText(r.Value), name)
}

func writeResponse(w http.ResponseWriter, method, inner string) {
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(envelope(fmt.Sprintf(`<%sResponse xmlns="urn:vim25">%s</%sResponse>`, method, inner, method))))
}

func writeFault(w http.ResponseWriter, fault, detail, msg string) {
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(http.StatusInternalServerError)
	_, _ = w.Write([]byte(envelope(fmt.Sprintf(`<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>%s</faultstring><detail><%sFault xmlns="urn:vim25" xsi:type="%s">%s</%sFault></detail></soapenv:Fault>`,
		xmlText(msg), fault, fault, detail, fault))))
}

var powerStateText = map[string]string{"poweredOn": "Powered on", "poweredOff": "Powered off", "suspended": "Suspended"}

// faultText is vCenter's message for the faults shipshape handles, from the fault's fields.
func faultText(fault string, field func(string) string) string {
	switch fault {
	case "NotAuthenticated":
		return "The session is not authenticated."
	case "InvalidLogin":
		return "Cannot complete login due to an incorrect user name or password."
	case "ManagedObjectNotFound":
		return fmt.Sprintf("The object 'vim.%s:%s' has already been deleted or has not been completely created", field("obj.type"), field("obj"))
	case "DuplicateName":
		return fmt.Sprintf("The name '%s' already exists.", field("name"))
	case "InvalidPowerState":
		s := powerStateText[field("existingState")]
		if s == "" {
			s = field("existingState")
		}
		return fmt.Sprintf("The attempted operation cannot be performed in the current state (%s).", s)
	case "InvalidState":
		return "The operation is not allowed in the current state."
	case "NotSupported":
		return "The operation is not supported on the object."
	case "InvalidArgument":
		return "A specified parameter was not correct: " + field("invalidProperty")
	case "FileNotFound":
		return fmt.Sprintf("File %s was not found", field("file"))
	case "InsufficientMemoryResourcesFault", "InsufficientResourcesFault":
		return "The available Memory resources in the parent resource pool are insufficient for the operation."
	case "RequestCanceled":
		return "The task was canceled by a user."
	case "TaskInProgress":
		return "Another task is already in progress."
	case "NoPermission":
		return "Permission to perform this operation was denied."
	}
	return ""
}

var (
	faultStringRE = regexp.MustCompile(`<faultstring>[^<]*</faultstring>`)
	detailRE      = regexp.MustCompile(`(?s)<detail>(.*)</detail>`)
)

// withVcenterFaultString replaces vcsim's faultstring (often empty) with vCenter's text.
func withVcenterFaultString(body []byte) []byte {
	m := detailRE.FindSubmatch(body)
	if m == nil {
		return body
	}
	var d xnode
	if err := xml.Unmarshal(m[1], &d); err != nil {
		return body
	}
	fault := d.attr("type")
	if fault == "" {
		fault = strings.TrimSuffix(d.XMLName.Local, "Fault")
	}
	msg := faultText(fault, nodeField(&d))
	if msg == "" {
		return body
	}
	return faultStringRE.ReplaceAll(body, []byte("<faultstring>"+xmlText(msg)+"</faultstring>"))
}

// nodeField reads `name` (text) or `name.type` (attribute) from a fault element.
func nodeField(d *xnode) func(string) string {
	return func(k string) string {
		if strings.HasSuffix(k, ".type") {
			return d.child(strings.TrimSuffix(k, ".type")).attr("type")
		}
		return d.text(k)
	}
}

// versionsUpTo lists the vim25 versions a vCenter of `top` (e.g. 8.0.2) speaks, highest first
// (the version strings pyVmomi and govmomi send: 8.0.2.0, 7.0.3.0, …).
func versionsUpTo(top string) []string {
	all := []string{"8.0.3.0", "8.0.2.0", "8.0.1.0", "8.0.0.2", "8.0.0.1", "8.0.0.0", "7.0.3.2", "7.0.3.1", "7.0.3.0", "7.0.2.1", "7.0.2.0", "7.0.1.1", "7.0.1.0", "7.0.0.2", "7.0.0.1", "7.0.0.0", "6.9.1", "6.8.7", "6.7.3", "6.7.2", "6.7.1", "6.7", "6.5", "6.0", "5.5", "5.1", "5.0"}
	want := top
	if strings.Count(want, ".") == 2 && !strings.HasPrefix(want, "6.") {
		want += ".0"
	}
	for i, v := range all {
		if v == want {
			// 7.0.3 speaks 7.0.3.0 but not its later patch namespaces.
			return all[i:]
		}
	}
	return []string{top}
}

func fullName(api string) string {
	switch {
	case strings.HasPrefix(api, "8.0.2"):
		return "VMware vCenter Server 8.0.2 build-22385739"
	case strings.HasPrefix(api, "7.0.3"):
		return "VMware vCenter Server 7.0.3 build-19480866"
	}
	return "VMware vCenter Server " + api
}
