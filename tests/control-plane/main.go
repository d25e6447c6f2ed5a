// Command control-plane is the Kubernetes control plane of the end-to-end tests, built from source
// as one program: `control-plane etcd|kube-apiserver|kube-controller-manager|kube-scheduler ARGS...`
// runs that component's own command line, so the packages compile once while each component still
// runs as its own process, started and stopped by the test harness (tests/support/control_plane.rs).
package main

import (
	"fmt"
	"os"
	_ "time/tzdata" // CronJob time zones, as in the upstream kube-apiserver and controller manager

	"go.etcd.io/etcd/server/v3/etcdmain"
	_ "k8s.io/component-base/logs/json/register"          // JSON log format, as upstream
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go metrics, as upstream
	_ "k8s.io/component-base/metrics/prometheus/version"  // version metric, as upstream
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
)

const usage = "usage: control-plane etcd|kube-apiserver|kube-controller-manager|kube-scheduler [ARGS...]"

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	component, arguments := os.Args[1], os.Args[2:]
	switch component {
	case "etcd":
		// etcdmain reads its flags from the slice it is given, program name first.
		etcdmain.Main(append([]string{"etcd"}, arguments...))
	case "kube-apiserver":
		os.Exit(runCobra(apiserver.NewAPIServerCommand(), component, arguments))
	case "kube-controller-manager":
		os.Exit(runCobra(controllermanager.NewControllerManagerCommand(), component, arguments))
	case "kube-scheduler":
		os.Exit(runCobra(scheduler.NewSchedulerCommand(), component, arguments))
	default:
		fmt.Fprintf(os.Stderr, "control-plane: unknown component %q\n%s\n", component, usage)
		os.Exit(2)
	}
}
