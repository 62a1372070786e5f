// Package shuffle holds the block-level map and reduce sides of the
// all-to-all operations: map tasks split each block by hash of keys, by
// range boundaries, or at random into N parts; reduce tasks merge their
// parts (concatenate and permute, sort, join, or merge aggregation states);
// groupby aggregates partially on the map side (combine) before anything
// moves. The dataset package builds the exchanges that call these
// functions.
package shuffle
