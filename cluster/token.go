package cluster

import (
	"os"
	"path/filepath"
	"strings"
)

// TokenFile is where a head on this machine keeps the cluster token, for
// the nodes, commands and programs that run beside it.
func TokenFile() string {
	home, err := os.UserHomeDir()
	if err != nil {
		home = os.TempDir()
	}
	return filepath.Join(home, ".shoal", "cluster-token")
}

// FindToken returns the cluster token a process was given: $SHOAL_TOKEN,
// else the contents of TokenFile, else "".
func FindToken() string {
	if t := os.Getenv("SHOAL_TOKEN"); t != "" {
		return t
	}
	if b, err := os.ReadFile(TokenFile()); err == nil {
		return strings.TrimSpace(string(b))
	}
	return ""
}
