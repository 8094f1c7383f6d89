package opscli

import (
	"fmt"
	"io"
	"runtime/debug"
)

// WriteVersion writes the build's module version, Go version and version-control state (from
// runtime/debug.ReadBuildInfo: revision, commit time, whether the tree was modified).
func WriteVersion(w io.Writer, info *debug.BuildInfo, ok bool) {
	if !ok || info == nil {
		fmt.Fprintln(w, "coachwire: no build information in this binary")
		return
	}
	version := info.Main.Version
	if version == "" {
		version = "(unknown)"
	}
	fmt.Fprintf(w, "coachwire %s\n", version)
	fmt.Fprintf(w, "%-13s %s\n", "module:", info.Main.Path)
	fmt.Fprintf(w, "%-13s %s\n", "go:", info.GoVersion)
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	if rev := settings["vcs.revision"]; rev != "" {
		if settings["vcs.modified"] == "true" {
			rev += " (modified)"
		}
		fmt.Fprintf(w, "%-13s %s\n", "revision:", rev)
		if t := settings["vcs.time"]; t != "" {
			fmt.Fprintf(w, "%-13s %s\n", "commit time:", t)
		}
	} else {
		fmt.Fprintf(w, "%-13s %s\n", "revision:", "unknown (built without version control information: -buildvcs=false, or no .git directory)")
	}
	for _, k := range []string{"GOOS", "GOARCH", "CGO_ENABLED", "-trimpath"} {
		if v := settings[k]; v != "" {
			fmt.Fprintf(w, "%-13s %s\n", k+":", v)
		}
	}
}
