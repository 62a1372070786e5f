//go:build shoalcluster

package main

// Cluster support, for SHOAL_ADDRESS. A program meant for a cluster has
// this import in its main package unconditionally; the quickstart keeps
// it behind a tag so that its embedded build stays light.
import _ "github.com/shoal-data/shoal/cluster"
