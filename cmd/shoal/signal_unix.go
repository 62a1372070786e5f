package main

import (
	"os"
	"os/signal"
)

// notifyTerm relays sig to ch (SIGTERM is how Kubernetes and kill stop a process).
func notifyTerm(ch chan os.Signal, sig os.Signal) { signal.Notify(ch, sig) }
