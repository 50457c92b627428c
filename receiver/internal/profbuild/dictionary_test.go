// Copyright The ebpf-otel Authors
// SPDX-License-Identifier: Apache-2.0

package profbuild

import (
	"hash/maphash"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
)

func TestStackHashCollision(t *testing.T) {
	d := newDictionary()
	a, b := []int32{1, 2, 3}, []int32{4, 5}
	ia := d.stack(a)
	assert.Equal(t, int32(1), ia)

	// Pretend b hashes like a: it must still get its own row, found again
	// through the overflow map, while a keeps resolving to its row.
	hb := maphash.Bytes(d.seed, unsafe.Slice((*byte)(unsafe.Pointer(&b[0])), len(b)*4))
	d.stackIdx[hb] = ia
	ib := d.stack(b)
	assert.Equal(t, int32(2), ib)
	assert.Equal(t, ib, d.stack([]int32{4, 5}))
	assert.Equal(t, ia, d.stack([]int32{1, 2, 3}))
	assert.Equal(t, []int32{4, 5}, d.stackAt(ib))

	d.reset()
	assert.Nil(t, d.stackOverflow)
	assert.Equal(t, int32(1), d.stack(b))
}
