// vcsim harness built against Debian's golang-github-vmware-govmomi-dev (0.24.2).
// Build: GO111MODULE=off GOPATH=/usr/share/gocode go build -o vcsim .   (scripts/build-vcsim.sh)
// Plain mode is vcsim as it is; -vcenter puts the vCenter-like handler (vcenter.go) in front.
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/vmware/govmomi/simulator"
	_ "github.com/vmware/govmomi/vapi/simulator" // registers /rest (tags, content library, session) when -rest
	"github.com/vmware/govmomi/vim25/types"
)

func main() {
	addr := flag.String("l", "127.0.0.1:8989", "listen address host:port (port 0 = random)")
	esx := flag.Bool("esx", false, "simulate a standalone ESXi host instead of vCenter")
	useTLS := flag.Bool("tls", false, "serve https with the built-in self-signed localhost cert (or -tlscert/-tlskey)")
	certFile := flag.String("tlscert", "", "PEM certificate for -tls")
	keyFile := flag.String("tlskey", "", "PEM key for -tls")
	tlsMax := flag.String("tlsmax", "", "highest TLS version offered with -tls: 1.2 or 1.3 (default: Go's, 1.3)")
	user := flag.String("username", "", "require this user name (default: any non-empty user/password is accepted)")
	pass := flag.String("password", "", "password for -username (or $VCSIM_PASSWORD)")
	rest := flag.Bool("rest", false, "register vAPI REST endpoints under /rest (vCenter model only)")
	trace := flag.Bool("trace", false, "dump SOAP request/response bodies to stderr")
	delay := flag.Int("delay", 0, "milliseconds of delay added to every SOAP call")
	envFile := flag.String("env", "", "write GOVC_URL/VCSIM_* lines to this file once listening")
	wsdlDir := flag.String("wsdl", "", "serve this directory's vimService.wsdl, vim.wsdl, *.xsd under /sdk/ (vcsim has none) and accept SOAP POSTs on /sdk/vimService.wsdl")

	m := simulator.VPX()
	flag.IntVar(&m.Datacenter, "dc", m.Datacenter, "Datacenters")
	flag.IntVar(&m.Folder, "folder", m.Folder, "Datacenters to place inside a Folder")
	flag.IntVar(&m.Cluster, "cluster", m.Cluster, "Clusters per Datacenter")
	flag.IntVar(&m.ClusterHost, "host", m.ClusterHost, "Hosts per Cluster")
	flag.IntVar(&m.Host, "standalone-host", m.Host, "standalone Hosts per Datacenter")
	flag.IntVar(&m.Pool, "pool", m.Pool, "child ResourcePools per Cluster (they get no VMs)")
	flag.IntVar(&m.App, "app", m.App, "VirtualApps per Cluster (each gets -vm VMs)")
	flag.IntVar(&m.Pod, "pod", m.Pod, "StoragePods per Datacenter")
	flag.IntVar(&m.Datastore, "ds", m.Datastore, "local Datastores (mounted on every host)")
	flag.IntVar(&m.Portgroup, "pg", m.Portgroup, "DistributedVirtualPortgroups per Datacenter")
	flag.IntVar(&m.PortgroupNSX, "nsx-pg", m.PortgroupNSX, "NSX-backed DVPGs per Datacenter")
	flag.IntVar(&m.OpaqueNetwork, "nsx", m.OpaqueNetwork, "OpaqueNetworks per Datacenter")
	flag.IntVar(&m.Machine, "vm", m.Machine, "VMs per cluster root pool, per standalone host and per vApp")
	flag.BoolVar(&m.Autostart, "autostart", m.Autostart, "power on the model's VMs")
	vcMode := flag.Bool("vcenter", false, "vCenter-like mode: tasks that run and fail later, paging, DuplicateName, replacing extraConfig/SetField, vCenter fault texts, idle-session expiry, version negotiation (README.md)")
	apiVersion := flag.String("api-version", "8.0.2", "with -vcenter: the vCenter API version to report and negotiate (7.0.3 or 8.0.2)")
	taskMs := flag.Int("task-ms", 100, "with -vcenter: how long each task stays queued/running before it does its work (ms)")
	idle := flag.Duration("idle-timeout", 30*time.Minute, "with -vcenter: a session idle this long is ended (vCenter's default is 30 min)")
	pageCap := flag.Int("page-cap", 100, "with -vcenter: objects per RetrievePropertiesEx result when the client sets no maxObjects")
	mark := flag.String("mark", "", "shipshape addition: give every model VM shipshape's ownership marker (extraConfig) with this OS, as if shipshape had created it (benchmarks)")
	flag.Parse()
	if p := os.Getenv("VCSIM_PASSWORD"); p != "" && *user != "" {
		*pass = p // the lab passes its password by environment, not on the command line (visible in ps)
	}

	if *esx {
		e := simulator.ESX()
		e.Datastore, e.Machine, e.Autostart = m.Datastore, m.Machine, m.Autostart
		m = e
	}
	m.DelayConfig.Delay = *delay
	if *vcMode {
		v := versionsUpTo(*apiVersion)[0]
		m.ServiceContent.About.ApiVersion = v
		m.ServiceContent.About.Version = strings.Join(strings.Split(v, ".")[:3], ".")
		m.ServiceContent.About.FullName = fullName(v)
		m.ServiceContent.About.Build = strings.TrimPrefix(fullName(v)[strings.LastIndex(fullName(v), " ")+1:], "build-")
	}
	simulator.Trace = *trace

	t0 := time.Now()
	if err := m.Create(); err != nil {
		fmt.Fprintln(os.Stderr, "create:", err)
		os.Exit(1)
	}
	created := time.Since(t0)
	if *mark != "" {
		for _, e := range simulator.Map.All("VirtualMachine") {
			vm := e.(*simulator.VirtualMachine)
			vm.Config.ExtraConfig = append(vm.Config.ExtraConfig,
				&types.OptionValue{Key: "shipshape.owner", Value: "shipshape"},
				&types.OptionValue{Key: "shipshape.system", Value: vm.Name},
				&types.OptionValue{Key: "shipshape.os", Value: *mark})
		}
	}
	initChangeVersions()
	defer m.Remove() // deletes the temp datastore directories

	u := &url.URL{Host: *addr}
	if *user != "" {
		u.User = url.UserPassword(*user, *pass)
	}
	m.Service.Listen = u
	m.Service.RegisterEndpoints = *rest
	if *useTLS {
		m.Service.TLS = new(tls.Config)
		switch *tlsMax {
		case "1.2":
			m.Service.TLS.MaxVersion = tls.VersionTLS12
		case "1.3":
			m.Service.TLS.MaxVersion = tls.VersionTLS13
		}
		if *certFile != "" {
			c, err := tls.LoadX509KeyPair(*certFile, *keyFile)
			if err != nil {
				fmt.Fprintln(os.Stderr, "tls:", err)
				os.Exit(1)
			}
			m.Service.TLS.Certificates = []tls.Certificate{c}
		}
	}
	if *wsdlDir != "" {
		files := http.StripPrefix("/sdk/", http.FileServer(http.Dir(*wsdlDir)))
		m.Service.HandleFunc("/sdk/", func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPost { // e.g. node-soap posting to the WSDL URL
				r.URL.Path = "/sdk"
				m.Service.ServeSDK(w, r)
				return
			}
			files.ServeHTTP(w, r)
		})
	}
	s := m.Service.NewServer()
	s.Config.Handler = changeVersions{s.Config.Handler}
	mode := "vcsim"
	if *vcMode {
		// Set before the address is announced (-env), so no request reaches the plain handler.
		s.Config.Handler = newVcenter(s.Config.Handler, m.ServiceContent.About.ApiVersion, *user, *pass, *idle, *taskMs, *pageCap)
		mode = "vcenter-like"
	}
	s.Config.Handler = &collectorFaults{inner: s.Config.Handler}

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	c := m.Count()
	out := fmt.Sprintf("GOVC_URL=%s\nVCSIM_PID=%d\nVCSIM_MODE=%s\n", s.URL.String(), os.Getpid(), mode)
	if *useTLS {
		if ca, err := s.CertificateFile(); err == nil {
			out += "VCSIM_CA_FILE=" + ca + "\n" // e.g. NODE_EXTRA_CA_CERTS
		}
	}
	fmt.Print(out)
	fmt.Fprintf(os.Stderr, "created in %s: dc=%d cluster=%d host=%d pool=%d app=%d ds=%d pg=%d folder=%d vm=%d entities=%d; heap in use %.1f MiB, sys %.1f MiB\n",
		created.Round(time.Millisecond), c.Datacenter, c.Cluster, c.Host, c.Pool, c.App, c.Datastore, c.Portgroup, c.Folder, c.Machine,
		c.Datacenter+c.Cluster+c.Host+c.Pool+c.App+c.Datastore+c.Portgroup+c.Folder+c.Machine+c.Pod+c.OpaqueNetwork,
		float64(ms.HeapInuse)/(1<<20), float64(ms.Sys)/(1<<20))
	if *envFile != "" {
		_ = os.WriteFile(*envFile, []byte(out), 0o644)
	}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	s.Close()
}
