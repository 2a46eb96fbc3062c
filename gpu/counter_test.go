//go:build gpu

package gpu

import "sync/atomic"

type atomicCounter struct{ v atomic.Uint64 }

func (c *atomicCounter) add()        { c.v.Add(1) }
func (c *atomicCounter) get() uint64 { return c.v.Load() }
