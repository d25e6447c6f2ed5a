package main

import (
	"os"

	"github.com/spf13/cobra"
	"k8s.io/component-base/cli"
)

// runCobra runs one component's cobra command with the arguments after the component name, the
// way that component's own binary would run it.
func runCobra(command *cobra.Command, component string, arguments []string) int {
	command.Use = component
	command.SetArgs(arguments)
	// cli.Run parses os.Args[1:] only when SetArgs was not called; the program name shown in the
	// component's messages is the component's.
	os.Args = append([]string{component}, arguments...)
	return cli.Run(command)
}
