package cli

import (
	"encoding/json"
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/crmauthz/crmauthz/api/v1alpha1"
)

// Version is the release, set when a release is built:
// -ldflags "-X github.com/crmauthz/crmauthz/internal/cli.Version=v0.1.0". Empty, the
// module version Go recorded in the binary is used ("(devel)" in a checkout).
var Version = ""

// VersionInfo is what `version` prints.
type VersionInfo struct {
	Version    string `json:"version"`
	Commit     string `json:"commit,omitempty"`
	CommitTime string `json:"commitTime,omitempty"`
	Modified   bool   `json:"modified,omitempty"`
	GoVersion  string `json:"goVersion"`
	// APIVersion is the group and version of the policy kinds this build reads.
	APIVersion string `json:"apiVersion"`
}

// BuildVersion reads the version from the ldflag and the build information.
func BuildVersion() VersionInfo {
	v := VersionInfo{Version: Version, APIVersion: v1alpha1.GroupVersion.String()}
	if info, ok := debug.ReadBuildInfo(); ok {
		v.GoVersion = info.GoVersion
		if v.Version == "" {
			v.Version = info.Main.Version
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				v.Commit = s.Value
			case "vcs.time":
				v.CommitTime = s.Value
			case "vcs.modified":
				v.Modified = s.Value == "true"
			}
		}
	}
	if v.Version == "" {
		v.Version = "(devel)"
	}
	return v
}

func newVersionCmd(name string) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version of " + name,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := BuildVersion()
			out := cmd.OutOrStdout()
			switch output {
			case "json":
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(v)
			case "":
				fmt.Fprintf(out, "%s %s", name, v.Version)
				if v.Commit != "" {
					dirty := ""
					if v.Modified {
						dirty = ", modified"
					}
					fmt.Fprintf(out, " (commit %.12s%s, %s)", v.Commit, dirty, v.CommitTime)
				}
				fmt.Fprintf(out, ", %s, reads %s\n", v.GoVersion, v.APIVersion)
				return nil
			}
			return &exitError{code: 2, msg: "--output: " + output + " is not json"}
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "json: for machines")
	return cmd
}
