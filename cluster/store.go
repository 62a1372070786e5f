package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
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
	// stopReports ends the reports of the job's runs (NewRuntime).
	stopReports func()

	mu sync.Mutex
	// endpoints are every store blocks live in: the nodes' own and their
	// worker processes' (where tasks keep their outputs), by the index in
	// their objects' IDs; byAddr finds one by its address.
	endpoints []*remoteNode
	byAddr    map[string]*remoteNode
	objects   map[exec.ObjectID]*remoteObject
	closed    bool
	onFree    func(exec.ObjectID)
	// readers are the calls (tasks, actor calls) reading blocks from each
	// endpoint: giving the endpoint up cuts them (watchInputs).
	readers map[*remoteNode]map[*inputWatch]struct{}
	// releases are the objects released and not yet freed in their
	// stores, by endpoint: the releaser sends them in batches.
	releases    map[*remoteNode][]exec.ObjectID
	releaseWake chan struct{} // one pending wake; closed by Close
	releaseDone chan struct{} // closed when the releaser has exited
}

// remoteNode is a node, or the store of one of its worker processes
// (owner set): an endpoint blocks live at.
type remoteNode struct {
	id     string
	addr   string
	client *ObjectClient
	owner  *remoteNode // the node a worker's store belongs to; nil for a node
	placed int64       // bytes placed on the node (its workers' included) and not yet released
	down   bool        // given up: no more blocks or tasks go here, its blocks are lost
	why    error       // why it was given up
	index  int         // position in RemoteStore.endpoints: the top bits of its objects' IDs
	// cpus the node declared and tasks this driver runs there now
	// (TaskRunner).
	cpus, running int
	// gpus and memory (0: not counted) the node offers actors, and what
	// this driver's actors hold there.
	gpus      int
	memory    int64
	labels    map[string]string
	store     int64 // object store memory the node offers
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
// with Get are built with alloc (memory.DefaultAllocator if nil). The job's
// stream brings the head's verdicts: a node it declares dead (or that
// leaves) is given up at once, every call open there cut, as if it had
// been killed.
func NewRemoteStore(ctx context.Context, addr, token string, alloc memory.Allocator) (*RemoteStore, error) {
	if alloc == nil {
		alloc = memory.DefaultAllocator
	}
	// The questions to the head have a deadline even where ctx has none.
	ctx, cancel := context.WithTimeout(ctx, controlCallTimeout)
	defer cancel()
	head, err := Connect(addr, token)
	if err != nil {
		return nil, err
	}
	defer head.Close()
	st, err := head.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("cluster: asking %s for its nodes: %w", addr, err)
	}
	rs := &RemoteStore{alloc: alloc, token: token, objects: map[exec.ObjectID]*remoteObject{}, byAddr: map[string]*remoteNode{},
		readers: map[*remoteNode]map[*inputWatch]struct{}{}, releases: map[*remoteNode][]exec.ObjectID{},
		releaseWake: make(chan struct{}, 1), releaseDone: make(chan struct{})}
	go rs.releaser()
	for _, n := range st.Nodes {
		if n.Alive {
			if err := rs.addNode(n.ID, n.Info, ""); err != nil {
				rs.Close()
				return nil, err
			}
		}
	}
	if len(rs.nodes) == 0 {
		rs.Close()
		return nil, fmt.Errorf("cluster: %s has no live node", addr)
	}
	// The job before any block or task: every one this store makes belongs
	// to it, so that the nodes free them if this process dies without
	// releasing. Its stream brings the nodes that join or go from now on.
	if rs.job, err = attachJob(ctx, addr, token, rs.nodeNews); err != nil {
		rs.Close()
		return nil, err
	}
	rs.mu.Lock()
	for _, n := range rs.nodes {
		n.client.SetJob(rs.job.ID())
	}
	rs.mu.Unlock()
	return rs, nil
}

// addNode adds a live node, its blocks to belong to job. rs.mu is held,
// or rs is not shared yet.
func (rs *RemoteStore) addNode(id string, info NodeInfo, job string) error {
	c, err := DialObjects(info.Addr, rs.token) // connects on first use
	if err != nil {
		return err
	}
	if job != "" {
		c.SetJob(job)
	}
	n := &remoteNode{id: id, addr: info.Addr, client: c, index: len(rs.endpoints),
		cpus: info.Resources.CPUs, gpus: info.Resources.GPUs, memory: info.Resources.Memory,
		labels: info.Resources.Labels, store: info.Resources.ObjectStoreMemory}
	rs.nodes = append(rs.nodes, n)
	rs.endpoints = append(rs.endpoints, n)
	rs.byAddr[n.addr] = n
	rs.budget += info.Resources.ObjectStoreMemory
	return nil
}

// nodeNews is the head's news of its nodes (the job's stream): a node that
// joined is used, one declared dead or that left is given up.
func (rs *RemoteStore) nodeNews(job string, ev jobEvent) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.closed {
		return
	}
	known := map[string]*remoteNode{}
	for _, n := range rs.nodes {
		known[n.id] = n
	}
	for _, j := range ev.Joined {
		if known[j.ID] == nil {
			if err := rs.addNode(j.ID, j.Info, job); err == nil {
				known[j.ID] = rs.nodes[len(rs.nodes)-1]
			}
		}
	}
	for _, g := range ev.Gone {
		if n := known[g.ID]; n != nil {
			rs.markDownLocked(n, errors.New(g.Reason()))
		}
	}
}

// Put implements exec.ObjectStore: the block goes to the live node with
// the fewest bytes placed by this store. A node that cannot be reached is
// marked down and the block goes to the next one; Put fails only when no
// node takes it.
func (rs *RemoteStore) Put(b blocks.Block, producer string) (exec.ObjectRef, error) {
	size := blocks.Size(b)
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
			return exec.ObjectRef{}, fmt.Errorf("cluster: no node can take a block of %s: %s", producer, rs.whyNoNode())
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
				// Try the next node.
				rs.markDownLocked(n, fmt.Errorf("%s (%s) could not be reached to put a block: %w", n.id, n.addr, err))
				rs.mu.Unlock()
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
	if status.Code(err) == codes.Unavailable && ctx.Err() == nil {
		rs.markDown(n, fmt.Errorf("%s (%s) could not be reached to get a block: %w", n.id, n.addr, err))
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

// markDown gives endpoint n up (a node, or a worker's store), for why:
// its blocks are lost, and no more blocks or tasks go there.
func (rs *RemoteStore) markDown(n *remoteNode, why error) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.markDownLocked(n, why)
}

// markDownLocked is markDown with rs.mu held. Every call open to n (and,
// for a node, to its workers' stores) is cut, as are the calls elsewhere
// reading blocks from there; a node that is frozen would answer none of
// them. The first reason stays.
func (rs *RemoteStore) markDownLocked(n *remoteNode, why error) {
	if n.down {
		return
	}
	n.down, n.why = true, why
	if n.owner == nil {
		rs.budget -= n.store
	}
	for _, ep := range rs.endpoints {
		if ep != n && ep.owner != n {
			continue
		}
		if ep.client != nil {
			ep.client.Abandon(why)
		}
		for w := range rs.readers[ep] {
			w.cut(fmt.Errorf("an input lived on %s (%s), given up: %w: %v", ep.id, ep.addr, exec.ErrBlockLost, why))
		}
		delete(rs.readers, ep)
	}
}

// whyNoNode says why no node can be used: each node and why it was given
// up. rs.mu is held.
func (rs *RemoteStore) whyNoNode() string {
	var why []string
	for _, n := range rs.nodes {
		if n.down {
			why = append(why, n.why.Error())
		}
	}
	if len(why) == 0 {
		return "none is live"
	}
	return strings.Join(why, "; ")
}

// inputWatch is a call reading blocks from endpoints (watchInputs).
type inputWatch struct{ cut context.CancelCauseFunc }

// watchInputs returns ctx cut once an endpoint holding one of refs is
// given up, with a cause wrapping exec.ErrBlockLost: a call reading from
// a frozen store would otherwise wait on it until keepalive gives up.
// done ends the watch and returns that cause, or nil where the inputs
// stayed.
func (rs *RemoteStore) watchInputs(ctx context.Context, refs []exec.ObjectRef) (_ context.Context, done func() error) {
	ctx, cancel := context.WithCancelCause(ctx)
	w := &inputWatch{cut: cancel}
	rs.mu.Lock()
	var eps []*remoteNode
	for _, in := range refs {
		o, ok := rs.objects[in.ID]
		if !ok || slices.Contains(eps, o.node) {
			continue
		}
		eps = append(eps, o.node)
		if rs.readers[o.node] == nil {
			rs.readers[o.node] = map[*inputWatch]struct{}{}
		}
		rs.readers[o.node][w] = struct{}{}
	}
	rs.mu.Unlock()
	return ctx, func() error {
		rs.mu.Lock()
		for _, ep := range eps {
			delete(rs.readers[ep], w)
			if len(rs.readers[ep]) == 0 {
				delete(rs.readers, ep)
			}
		}
		rs.mu.Unlock()
		cause := context.Cause(ctx)
		cancel(nil)
		if errors.Is(cause, exec.ErrBlockLost) {
			return cause
		}
		return nil
	}
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
		ep.down, ep.why = true, err // DialObjects only fails on a malformed address
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
	if !o.node.gone() { // a node that is gone has freed it
		// The releaser frees it: the caller (the executor's loop, a
		// garbage collector's cleanup) does not wait for a round trip,
		// and releases made meanwhile go in one call.
		rs.releases[o.node] = append(rs.releases[o.node], o.local)
		select {
		case rs.releaseWake <- struct{}{}:
		default:
		}
	}
	onFree := rs.onFree
	rs.mu.Unlock()
	if onFree != nil {
		onFree(ref.ID)
	}
}

// releaser sends the released objects to their stores until Close, then
// sends the last ones and exits.
func (rs *RemoteStore) releaser() {
	defer close(rs.releaseDone)
	for range rs.releaseWake {
		rs.flushReleases()
	}
	rs.flushReleases()
}

// flushReleases frees the released objects in their stores, one call per
// store, the stores at once.
func (rs *RemoteStore) flushReleases() {
	rs.mu.Lock()
	batches := rs.releases
	rs.releases = map[*remoteNode][]exec.ObjectID{}
	rs.mu.Unlock()
	var wg sync.WaitGroup
	for n, ids := range batches {
		wg.Go(func() {
			// Bound how long an unreachable node can hold the releaser.
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			if err := n.client.ReleaseMany(ctx, ids); err != nil && (status.Code(err) == codes.Unavailable || ctx.Err() != nil) {
				rs.markDown(n, fmt.Errorf("%s (%s) could not be reached to release blocks: %w", n.id, n.addr, err))
			}
		})
	}
	wg.Wait()
}

// Stats implements exec.ObjectStore: this store's objects and bytes, and
// the nodes' spill counters added up.
func (rs *RemoteStore) Stats() exec.StoreStats {
	rs.mu.Lock()
	st := exec.StoreStats{Objects: len(rs.objects), Budget: rs.budget}
	for _, o := range rs.objects {
		st.MemoryBytes += o.bytes
	}
	var live []*remoteNode
	for _, n := range rs.nodes {
		if !n.down {
			live = append(live, n)
		}
	}
	closed := rs.closed
	rs.mu.Unlock()
	if closed {
		return st
	}
	// Asked of every node at once, each within a second: stats are for
	// reports, and a node that does not answer counts nothing.
	got := make([]exec.StoreStats, len(live))
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for i, n := range live {
		wg.Go(func() {
			if ns, err := n.client.Stats(ctx); err == nil {
				got[i] = ns
			}
		})
	}
	wg.Wait()
	for _, ns := range got {
		st.SpilledBytes += ns.SpilledBytes
		st.SpilledTotal += ns.SpilledTotal
		st.RestoredTotal += ns.RestoredTotal
		st.PeakMemory += ns.PeakMemory
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
	close(rs.releaseWake) // no Release sends after closed is set
	<-rs.releaseDone
	rs.releaseAll(objects)
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
		if rs.stopReports != nil {
			rs.stopReports() // the last runs' ends, before the job's
		}
		if err := rs.job.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// releaseAll frees objects in their stores, in batches, the stores at
// once, within closeReleaseTimeout in all; stores given up are skipped.
// What is left when the time is up is freed by the nodes when the job
// ends, just after.
func (rs *RemoteStore) releaseAll(objects map[exec.ObjectID]*remoteObject) {
	byNode := map[*remoteNode][]exec.ObjectID{}
	rs.mu.Lock()
	for _, o := range objects {
		if !o.node.gone() {
			byNode[o.node] = append(byNode[o.node], o.local)
		}
	}
	rs.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), closeReleaseTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for n, ids := range byNode {
		wg.Go(func() {
			for len(ids) > 0 { // in calls of at most 4096 ids
				k := min(len(ids), 4096)
				if status.Code(n.client.ReleaseMany(ctx, ids[:k])) == codes.Unavailable || ctx.Err() != nil {
					return
				}
				ids = ids[k:]
			}
		})
	}
	wg.Wait()
}

// closeReleaseTimeout bounds how long Close spends freeing blocks.
const closeReleaseTimeout = 5 * time.Second

var _ exec.LossyStore = (*RemoteStore)(nil)
