package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/exec"
)

// RemoteStore is an exec.ObjectStore whose blocks live on a cluster's
// nodes and in their worker processes' stores: Put sends a block to a node
// over Flight, Get fetches it back, and the outputs of tasks that ran on
// the nodes are adopted where they are. Reference counts are kept here, in
// the driver (it owns the blocks, as in Ray); when a block's count reaches
// zero its store is told to release it. It is an exec.LossyStore: a block
// whose node or worker died is lost, and the runtime rebuilds it. With
// exec.WithObjectStore(rs) alone a program's tasks run in its own process;
// with exec.WithRemote(NewTaskRunner(rs)) too, they run on the nodes
// (NewRuntime).
type RemoteStore struct {
	alloc  memory.Allocator
	token  string
	nodes  []*remoteNode // the live nodes at connection, in the head's order
	budget int64

	job *Job // this program's entry in the head's job table

	mu sync.Mutex
	// endpoints are every store blocks live in: the nodes' own and their
	// worker processes' (where tasks keep their outputs), by the index in
	// their objects' IDs; byAddr finds one by its address.
	endpoints []*remoteNode
	byAddr    map[string]*remoteNode
	objects   map[exec.ObjectID]*remoteObject
	closed    bool
	onFree    func(exec.ObjectID)
}

// remoteNode is a node, or the store of one of its worker processes
// (owner set): an endpoint blocks live at.
type remoteNode struct {
	id     string
	addr   string
	client *ObjectClient
	owner  *remoteNode // the node a worker's store belongs to; nil for a node
	placed int64       // bytes placed on the node (its workers' included) and not yet released
	down   bool        // unreachable: no more blocks or tasks go here
	index  int         // position in RemoteStore.endpoints: the top bits of its objects' IDs
	// cpus the node declared and tasks this driver runs there now
	// (TaskRunner).
	cpus, running int
	// gpus and memory (0: not counted) the node offers actors, and what
	// this driver's actors hold there.
	gpus      int
	memory    int64
	labels    map[string]string
	actorCPUs float64
	actorGPUs int
}

type remoteObject struct {
	node  *remoteNode
	local exec.ObjectID
	refs  int
	bytes int64
}

// nodeBits is where a node's index sits in a RemoteStore's object IDs; the
// node's own ID takes the bits below.
const nodeBits = 48

// NewRemoteStore connects to the head at addr and to every live node, and
// attaches a job (listed by `shoal status` until Close). Blocks fetched
// with Get are built with alloc (memory.DefaultAllocator if nil).
func NewRemoteStore(ctx context.Context, addr, token string, alloc memory.Allocator) (*RemoteStore, error) {
	if alloc == nil {
		alloc = memory.DefaultAllocator
	}
	head, err := Connect(addr, token)
	if err != nil {
		return nil, err
	}
	defer head.Close()
	st, err := head.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("cluster: asking %s for its nodes: %w", addr, err)
	}
	rs := &RemoteStore{alloc: alloc, token: token, objects: map[exec.ObjectID]*remoteObject{}, byAddr: map[string]*remoteNode{}}
	// The job first: every block and task this store makes belongs to it,
	// so that the nodes free them if this process dies without releasing.
	if rs.job, err = AttachJob(ctx, addr, token); err != nil {
		return nil, err
	}
	for _, n := range st.Nodes {
		if !n.Alive {
			continue
		}
		c, err := DialObjects(n.Info.Addr, token)
		if err != nil {
			rs.Close()
			return nil, err
		}
		c.SetJob(rs.job.ID())
		node := &remoteNode{id: n.ID, addr: n.Info.Addr, client: c, index: len(rs.endpoints),
			cpus: n.Info.Resources.CPUs, gpus: n.Info.Resources.GPUs, memory: n.Info.Resources.Memory,
			labels: n.Info.Resources.Labels}
		rs.nodes = append(rs.nodes, node)
		rs.endpoints = append(rs.endpoints, node)
		rs.byAddr[node.addr] = node
		rs.budget += n.Info.Resources.ObjectStoreMemory
	}
	if len(rs.nodes) == 0 {
		rs.Close()
		return nil, fmt.Errorf("cluster: %s has no live node", addr)
	}
	return rs, nil
}

// Put implements exec.ObjectStore: the block goes to the live node with
// the fewest bytes placed by this store. A node that cannot be reached is
// marked down and the block goes to the next one; Put fails only when no
// node takes it.
func (rs *RemoteStore) Put(b blocks.Block, producer string) (exec.ObjectRef, error) {
	size := blocks.Size(b)
	var errs []error
	for {
		rs.mu.Lock()
		if rs.closed {
			rs.mu.Unlock()
			return exec.ObjectRef{}, exec.ErrClosed
		}
		idx := -1
		for i, n := range rs.nodes {
			if !n.down && (idx < 0 || n.placed < rs.nodes[idx].placed) {
				idx = i
			}
		}
		if idx < 0 {
			rs.mu.Unlock()
			return exec.ObjectRef{}, fmt.Errorf("cluster: no node took the block: %w", errors.Join(errs...))
		}
		n := rs.nodes[idx]
		n.placed += size
		rs.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		ref, err := n.client.Put(ctx, b, producer)
		cancel()
		if err != nil {
			rs.mu.Lock()
			n.placed -= size
			if status.Code(err) == codes.Unavailable {
				n.down = true // try the next node
				rs.mu.Unlock()
				errs = append(errs, fmt.Errorf("%s (%s): %w", n.id, n.addr, err))
				continue
			}
			rs.mu.Unlock()
			return exec.ObjectRef{}, fmt.Errorf("cluster: putting a block on %s (%s): %w", n.id, n.addr, err)
		}
		id := exec.ObjectID(uint64(n.index)<<nodeBits | uint64(ref.ID))
		rs.mu.Lock()
		rs.objects[id] = &remoteObject{node: n, local: ref.ID, refs: 1, bytes: size}
		rs.mu.Unlock()
		ref.ID = id
		ref.Producer = producer
		return ref, nil
	}
}

// Get implements exec.ObjectStore. A block whose node cannot be reached
// is lost: the error wraps exec.ErrBlockLost, and the node takes no more
// blocks.
func (rs *RemoteStore) Get(ctx context.Context, ref exec.ObjectRef) (blocks.Block, error) {
	rs.mu.Lock()
	o, ok := rs.objects[ref.ID]
	var n *remoteNode
	var local exec.ObjectID
	down := false
	if ok {
		n, local, down = o.node, o.local, o.node.gone()
	}
	rs.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("cluster: object %d is not in the store", ref.ID)
	}
	if down {
		return nil, rs.lostError(ref, n, nil)
	}
	b, err := n.client.Get(ctx, local, rs.alloc)
	if status.Code(err) == codes.Unavailable {
		rs.mu.Lock()
		n.down = true
		rs.mu.Unlock()
		return nil, rs.lostError(ref, n, err)
	}
	if err != nil {
		return nil, fmt.Errorf("cluster: getting a block of %s from %s (%s): %w", ref.Producer, n.id, n.addr, err)
	}
	return b, nil
}

func (rs *RemoteStore) lostError(ref exec.ObjectRef, n *remoteNode, cause error) error {
	err := fmt.Errorf("cluster: a block of %s lived only on %s (%s), which cannot be reached: %w", ref.Producer, n.id, n.addr, exec.ErrBlockLost)
	if cause != nil {
		err = fmt.Errorf("%w: %v", err, cause)
	}
	return err
}

// Lost implements exec.LossyStore: ref's node is down.
func (rs *RemoteStore) Lost(ref exec.ObjectRef) bool {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	o, ok := rs.objects[ref.ID]
	return ok && o.node.gone()
}

// Rebind implements exec.LossyStore: lost's entry now points at rebuilt's
// block, and rebuilt's entry goes.
func (rs *RemoteStore) Rebind(lost, rebuilt exec.ObjectRef) bool {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	o, ok := rs.objects[lost.ID]
	r, rok := rs.objects[rebuilt.ID]
	if !ok || !rok || lost.ID == rebuilt.ID {
		return false
	}
	o.node.host().placed -= o.bytes
	o.node, o.local, o.bytes = r.node, r.local, r.bytes
	delete(rs.objects, rebuilt.ID) // its placed bytes now count for lost
	return true
}

// OnFree implements exec.LossyStore.
func (rs *RemoteStore) OnFree(fn func(exec.ObjectID)) {
	rs.mu.Lock()
	rs.onFree = fn
	rs.mu.Unlock()
}

// markDown takes n out of use: its blocks are lost.
func (rs *RemoteStore) markDown(n *remoteNode) {
	rs.mu.Lock()
	n.down = true
	rs.mu.Unlock()
}

// nodeOf is the endpoint (a node's store or a worker's) holding ref's
// block, nil if the store does not hold it.
func (rs *RemoteStore) nodeOf(ref exec.ObjectRef) *remoteNode {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if o, ok := rs.objects[ref.ID]; ok {
		return o.node
	}
	return nil
}

// host is the node an endpoint is on: itself, or a worker's node.
func (n *remoteNode) host() *remoteNode {
	if n.owner != nil {
		return n.owner
	}
	return n
}

// gone reports whether the endpoint's blocks are lost: it, or its node,
// is down.
func (n *remoteNode) gone() bool { return n.down || (n.owner != nil && n.owner.down) }

// endpoint is the store at addr on node n: n's own when addr is n's (or
// empty), else a worker's, connected on first use. rs.mu is held.
func (rs *RemoteStore) endpoint(n *remoteNode, addr string) *remoteNode {
	if addr == "" || addr == n.addr {
		return n
	}
	if ep, ok := rs.byAddr[addr]; ok && ep.owner == n && !ep.down {
		return ep
	}
	// A worker's store, new (or a new worker on an address reused after a
	// dead one: a fresh endpoint, so the old one's blocks stay lost).
	c, err := DialObjects(addr, rs.token)
	if err == nil {
		c.SetJob(rs.job.ID())
	}
	ep := &remoteNode{id: n.id + "/worker@" + addr, addr: addr, client: c, owner: n, index: len(rs.endpoints)}
	if err != nil {
		ep.down = true // DialObjects only fails on a malformed address
	}
	rs.endpoints = append(rs.endpoints, ep)
	rs.byAddr[addr] = ep
	return ep
}

// adopt takes over blocks a task on node n put in the store at addr (the
// node's or its worker's; IDs local to that store, one reference each) as
// this store's objects.
func (rs *RemoteStore) adopt(n *remoteNode, addr string, outs []exec.ObjectRef, producer string) []exec.ObjectRef {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	ep := rs.endpoint(n, addr)
	refs := make([]exec.ObjectRef, len(outs))
	for i, o := range outs {
		id := exec.ObjectID(uint64(ep.index)<<nodeBits | uint64(o.ID))
		rs.objects[id] = &remoteObject{node: ep, local: o.ID, refs: 1, bytes: o.Bytes}
		n.placed += o.Bytes
		o.ID, o.Producer = id, producer
		refs[i] = o
	}
	return refs
}

// Retain implements exec.ObjectStore.
func (rs *RemoteStore) Retain(ref exec.ObjectRef) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if o, ok := rs.objects[ref.ID]; ok {
		o.refs++
	}
}

// Release implements exec.ObjectStore: at zero references the node frees
// the block.
func (rs *RemoteStore) Release(ref exec.ObjectRef) {
	rs.mu.Lock()
	o, ok := rs.objects[ref.ID]
	if !ok || o.refs <= 0 {
		rs.mu.Unlock()
		return
	}
	o.refs--
	if o.refs > 0 {
		rs.mu.Unlock()
		return
	}
	delete(rs.objects, ref.ID)
	o.node.host().placed -= o.bytes
	down := o.node.gone()
	onFree := rs.onFree
	rs.mu.Unlock()
	if onFree != nil {
		onFree(ref.ID)
	}
	if down {
		return // a node that is gone has freed it
	}
	// Release runs on the executor's loop: bound how long an unreachable
	// node can hold it.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if status.Code(o.node.client.Release(ctx, o.local)) == codes.Unavailable {
		rs.mu.Lock()
		o.node.down = true
		rs.mu.Unlock()
	}
}

// Stats implements exec.ObjectStore: this store's objects and bytes, and
// the nodes' spill counters added up.
func (rs *RemoteStore) Stats() exec.StoreStats {
	rs.mu.Lock()
	st := exec.StoreStats{Objects: len(rs.objects), Budget: rs.budget}
	for _, o := range rs.objects {
		st.MemoryBytes += o.bytes
	}
	nodes := rs.nodes
	closed := rs.closed
	rs.mu.Unlock()
	if closed {
		return st
	}
	for _, n := range nodes {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		ns, err := n.client.Stats(ctx)
		cancel()
		if err == nil {
			st.SpilledBytes += ns.SpilledBytes
			st.SpilledTotal += ns.SpilledTotal
			st.RestoredTotal += ns.RestoredTotal
			st.PeakMemory += ns.PeakMemory
		}
	}
	return st
}

// Close releases every block this store still holds on the nodes, closes
// the connections and ends the job.
func (rs *RemoteStore) Close() error {
	rs.mu.Lock()
	if rs.closed {
		rs.mu.Unlock()
		return nil
	}
	rs.closed = true
	objects := rs.objects
	rs.objects = nil
	rs.mu.Unlock()
	var errs []error
	for _, o := range objects {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = o.node.client.Release(ctx, o.local)
		cancel()
	}
	rs.mu.Lock()
	endpoints := rs.endpoints
	rs.mu.Unlock()
	for _, n := range endpoints {
		if n.client == nil {
			continue
		}
		if err := n.client.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if rs.job != nil {
		if err := rs.job.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

var _ exec.LossyStore = (*RemoteStore)(nil)
