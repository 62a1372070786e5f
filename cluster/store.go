package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shoal-data/shoal/blocks"
	"github.com/shoal-data/shoal/exec"
)

// RemoteStore is an exec.ObjectStore whose blocks live on a cluster's
// nodes: Put sends a block to a node over Flight, Get fetches it back.
// Reference counts are kept here, in the driver; when a block's count
// reaches zero the node is told to release it. With
// exec.NewLocal(exec.WithObjectStore(rs)) a program's tasks run in its own
// process while its blocks spread over the cluster's memory: the first step
// of cluster mode (tasks do not run on the nodes yet).
type RemoteStore struct {
	alloc  memory.Allocator
	nodes  []*remoteNode
	budget int64

	mu      sync.Mutex
	objects map[exec.ObjectID]*remoteObject
	next    int // round-robin start for placement
	closed  bool
}

type remoteNode struct {
	id     string
	addr   string
	client *ObjectClient
	placed int64 // bytes placed here and not yet released
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

// NewRemoteStore connects to the head at addr and to every live node.
// Blocks fetched with Get are built with alloc (memory.DefaultAllocator if
// nil).
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
	rs := &RemoteStore{alloc: alloc, objects: map[exec.ObjectID]*remoteObject{}}
	for _, n := range st.Nodes {
		if !n.Alive {
			continue
		}
		c, err := DialObjects(n.Info.Addr, token)
		if err != nil {
			rs.Close()
			return nil, err
		}
		rs.nodes = append(rs.nodes, &remoteNode{id: n.ID, addr: n.Info.Addr, client: c})
		rs.budget += n.Info.Resources.ObjectStoreMemory
	}
	if len(rs.nodes) == 0 {
		rs.Close()
		return nil, fmt.Errorf("cluster: %s has no live node", addr)
	}
	return rs, nil
}

// Put implements exec.ObjectStore: the block goes to the node with the
// fewest bytes placed by this store.
func (rs *RemoteStore) Put(b blocks.Block, producer string) (exec.ObjectRef, error) {
	rs.mu.Lock()
	if rs.closed {
		rs.mu.Unlock()
		return exec.ObjectRef{}, exec.ErrClosed
	}
	idx := rs.next % len(rs.nodes)
	for i := range rs.nodes {
		if rs.nodes[i].placed < rs.nodes[idx].placed {
			idx = i
		}
	}
	rs.next++
	n := rs.nodes[idx]
	size := blocks.Size(b)
	n.placed += size
	rs.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	ref, err := n.client.Put(ctx, b, producer)
	if err != nil {
		rs.mu.Lock()
		n.placed -= size
		rs.mu.Unlock()
		return exec.ObjectRef{}, fmt.Errorf("cluster: putting a block on %s (%s): %w", n.id, n.addr, err)
	}
	id := exec.ObjectID(uint64(idx)<<nodeBits | uint64(ref.ID))
	rs.mu.Lock()
	rs.objects[id] = &remoteObject{node: n, local: ref.ID, refs: 1, bytes: size}
	rs.mu.Unlock()
	ref.ID = id
	ref.Producer = producer
	return ref, nil
}

// Get implements exec.ObjectStore.
func (rs *RemoteStore) Get(ctx context.Context, ref exec.ObjectRef) (blocks.Block, error) {
	rs.mu.Lock()
	o, ok := rs.objects[ref.ID]
	rs.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("cluster: object %d is not in the store", ref.ID)
	}
	b, err := o.node.client.Get(ctx, o.local, rs.alloc)
	if err != nil {
		return nil, fmt.Errorf("cluster: getting object %d from %s (%s): %w", ref.ID, o.node.id, o.node.addr, err)
	}
	return b, nil
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
	o.node.placed -= o.bytes
	rs.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = o.node.client.Release(ctx, o.local) // a node that is gone has freed it
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

// Close releases every block this store still holds on the nodes and
// closes the connections.
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
	for _, n := range rs.nodes {
		if err := n.client.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

var _ exec.ObjectStore = (*RemoteStore)(nil)
