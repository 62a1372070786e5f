package cluster

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Control actions (Flight DoAction types) and their JSON bodies.
const (
	actionRegister  = "register"  // NodeInfo → RegisterReply
	actionHeartbeat = "heartbeat" // Heartbeat → HeartbeatReply
	actionStatus    = "status"    // (empty) → Status
	actionShutdown  = "shutdown"  // (empty) → (empty)
	actionLeave     = "leave"     // Heartbeat (its ID) → (empty)

	// A node's actions, beside its ObjectService's.
	actionBinaryHas = "binary-has" // binaryHasBody → binaryReply
	actionBinaryPut = "binary-put" // binaryPutBody → binaryReply
	actionRunTask   = "run-task"   // RunTaskRequest → wireTaskResult (also a worker's)

	// Actors (actors.go, actor_worker.go). actor-start is a stream that
	// lasts as long as the actor: its first message says the actor is
	// constructed, its end that the actor has stopped.
	actionActorStart = "actor-start" // ActorStartRequest → actorStarted, then the end (a worker's: workerActorStart → actorPhase...)
	actionActorCall  = "actor-call"  // actorCallBody → wireTaskResult (also a worker's)
	actionActorStop  = "actor-stop"  // actorIDBody → (empty JSON object) (also a worker's)
)

// maxActionBody bounds a control message's body; a larger one is refused.
const maxActionBody = 1 << 20

// Resources are what a node offers.
type Resources struct {
	// CPUs are shared by tasks (for as long as each runs) and actors (for
	// their whole life).
	CPUs int `json:"cpus"`
	// GPUs are devices 0 to GPUs-1, each held by at most one actor.
	GPUs int `json:"gpus"`
	// Memory is what actors may reserve, in bytes (ActorStartRequest.Memory);
	// 0 means it is not counted: any actor's memory fits.
	Memory            int64             `json:"memory,omitempty"`
	ObjectStoreMemory int64             `json:"object_store_memory"`
	Labels            map[string]string `json:"labels,omitempty"`
}

// NodeInfo is what a node tells the head when it registers.
type NodeInfo struct {
	// Addr is where the node's Flight server listens (host:port).
	Addr      string    `json:"addr"`
	Hostname  string    `json:"hostname"`
	PID       int       `json:"pid"`
	Resources Resources `json:"resources"`
}

// RegisterReply gives the node its ID and how often to report.
type RegisterReply struct {
	ID              string        `json:"id"`
	HeartbeatPeriod time.Duration `json:"heartbeat_period"`
}

// Heartbeat is a node's periodic report.
type Heartbeat struct {
	ID          string `json:"id"`
	Objects     int    `json:"objects"`
	MemoryBytes int64  `json:"memory_bytes"`
	Spilled     int64  `json:"spilled_bytes"`
	Running     int    `json:"running_tasks"`
	// Actors live on the node, and the GPUs they hold.
	Actors   int `json:"actors"`
	GPUsHeld int `json:"gpus_held"`
}

// HeartbeatReply tells a node whether the cluster is shutting down, or
// whether it was declared dead.
type HeartbeatReply struct {
	Shutdown bool `json:"shutdown"`
	// DeadSince is set when the head had declared the node dead (it missed
	// heartbeats, say frozen): drivers gave its tasks, actors and blocks up,
	// so the node drops them and joins again as a new node.
	DeadSince time.Time `json:"dead_since,omitzero"`
	// EndedJobs are jobs that ended lately: the node frees the blocks
	// still held for them, in its store and its workers'.
	EndedJobs []string `json:"ended_jobs,omitempty"`
}

// actionJobEnded asks a store (a node's, or a worker's from its node) to
// free the objects of a job that ended.
const actionJobEnded = "job-ended" // jobEndedBody → {}

type jobEndedBody struct {
	Job string `json:"job"`
}

// NodeStatus is one node as the head sees it.
type NodeStatus struct {
	ID       string    `json:"id"`
	Info     NodeInfo  `json:"info"`
	Alive    bool      `json:"alive"`
	Joined   time.Time `json:"joined"`
	LastSeen time.Time `json:"last_seen"`
	// DeadSince is when the head declared the node dead (missed heartbeats)
	// or when it left (Left: it stopped cleanly).
	DeadSince time.Time `json:"dead_since,omitzero"`
	Left      bool      `json:"left,omitempty"`
	Last      Heartbeat `json:"last"`
}

// Status is the cluster as the head sees it.
type Status struct {
	Version      string       `json:"version"`
	HeadAddr     string       `json:"head_addr"`
	Started      time.Time    `json:"started"`
	ShuttingDown bool         `json:"shutting_down"`
	Nodes        []NodeStatus `json:"nodes"`
	Jobs         []JobStatus  `json:"jobs"`
}

// Total adds up the resources of the live nodes.
func (s Status) Total() Resources {
	var r Resources
	for _, n := range s.Nodes {
		if n.Alive {
			r.CPUs += n.Info.Resources.CPUs
			r.GPUs += n.Info.Resources.GPUs
			r.ObjectStoreMemory += n.Info.Resources.ObjectStoreMemory
		}
	}
	return r
}

// decodeBody parses an action body strictly: size-bounded, known fields
// only, one JSON value. Errors are InvalidArgument naming the action.
func decodeBody(action string, body []byte, v any) error {
	if len(body) > maxActionBody {
		return status.Errorf(codes.InvalidArgument, "shoal: %s: body of %d bytes, the limit is %d", action, len(body), maxActionBody)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return status.Errorf(codes.InvalidArgument, "shoal: %s: malformed body: %v", action, err)
	}
	if dec.More() {
		return status.Errorf(codes.InvalidArgument, "shoal: %s: trailing data after the body", action)
	}
	return nil
}

func encodeBody(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("cluster: encoding %T: %v", v, err)) // our own types always encode
	}
	return b
}
