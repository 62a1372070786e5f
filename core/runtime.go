package core

import (
	"context"

	"github.com/shoal-data/shoal/exec"
)

// Init must be the first statement of main in a program that runs on a
// cluster (and of TestMain in its tests): the cluster's nodes start worker
// processes from the program's own binary, and in such a process Init
// serves tasks and actors and never returns. Elsewhere it returns at once.
// It is the same as dataset.Init.
func Init() { exec.ServeWorkerIfAsked() }

type runtimeKey struct{}

// WithRuntime returns a context whose Puts, calls and actors use rt
// instead of the process's default runtime (exec.Default: embedded, or the
// cluster SHOAL_ADDRESS names).
func WithRuntime(ctx context.Context, rt exec.Runtime) context.Context {
	return context.WithValue(ctx, runtimeKey{}, rt)
}

// runtimeOf is the runtime ctx names, or the default one.
func runtimeOf(ctx context.Context) exec.Runtime {
	if rt, ok := ctx.Value(runtimeKey{}).(exec.Runtime); ok && rt != nil {
		return rt
	}
	return exec.Default()
}

// Option sets what a remote function's tasks or an actor hold while they
// run.
type Option func(*options)

type options struct {
	cpus    float64
	cpusSet bool
	gpus    int
	memory  int64
	retries int
	labels  map[string]string
}

// CPUs is how many CPUs each task (or the actor) holds: 1 by default for
// tasks and 0 for actors, as in Ray. A fraction lets more tasks that
// mostly wait run at once.
func CPUs(n float64) Option { return func(o *options) { o.cpus, o.cpusSet = n, true } }

// GPUs is how many GPUs an actor holds (CUDA_VISIBLE_DEVICES-style IDs in
// ActorContext.GPUIDs); tasks do not take GPUs.
func GPUs(n int) Option { return func(o *options) { o.gpus = n } }

// Memory is how many bytes an actor reserves from its node.
func Memory(bytes int64) Option { return func(o *options) { o.memory = bytes } }

// MaxRetries is how often a task is run again after a failure marked
// exec.Retryable (or the loss of its node): 3 by default, negative for
// never. Errors and panics of the function itself are not retried.
func MaxRetries(n int) Option { return func(o *options) { o.retries = n } }

// Labels restricts an actor, on a cluster, to nodes started with these
// labels (shoal start --labels k=v).
func Labels(l map[string]string) Option { return func(o *options) { o.labels = l } }

func makeOptions(opts []Option) options {
	var o options
	for _, f := range opts {
		f(&o)
	}
	return o
}

// taskCPUs is exec.Task.CPUs for these options: 0 means 1 there, and a
// negative value none.
func (o options) taskCPUs() float64 {
	if o.cpusSet && o.cpus <= 0 {
		return -1
	}
	return o.cpus
}
