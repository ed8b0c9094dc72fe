"""The flash array, event-driven (numba): per-die operation queues and per-channel buses.

Time is int64 ns. Each die serves its requests in arrival order. A read is a die operation of
tR (several queued pages of distinct planes at once with multi-plane), then one channel
transfer per page; with cache reads the die starts its next read as soon as the data has moved
to its cache register, and a finished read waits in the page register while the cache register
still drains. A write transfers its pages over the channel first, then programs for tPROG.
A channel serves transfers first come, first served (ties in request order). With a window W
> 0 the requester keeps at most W requests in the array: request i is released only when i < W +
the number completed so far (a closed loop, as a controller with W outstanding commands issues
them); W = 0 releases every request at its arrival. The kernel jumps from event to event;
nothing ticks.
"""
import numpy as np
from numba import njit

from accsim.core.engine.heap import heap_new, heap_pop, heap_push, heap_size

_TRY, _OP_DONE, _XFER_DONE = 0, 1, 2


@njit(cache=True)
def run_flash(channel, die, plane, is_write, arrival, planes, tR, tPROG, xfer, multiplane, cache_read,
              window=0):
    """Return (done, op_start, op_end, xfer_start, xfer_end) per request (ns)."""
    n = channel.shape[0]
    released = window if 0 < window < n else n     # requests [0, released) may be served
    n_dies = 0
    n_channels = 0
    for i in range(n):
        n_dies = max(n_dies, die[i] + 1)
        n_channels = max(n_channels, channel[i] + 1)
    done = np.zeros(n, np.int64)
    op_start = np.zeros(n, np.int64)
    op_end = np.zeros(n, np.int64)
    x_start = np.zeros(n, np.int64)
    x_end = np.zeros(n, np.int64)
    # per-die FIFO of request indices, in (arrival, index) order
    order = np.argsort(arrival * (n + 1) + np.arange(n), kind="mergesort")
    count = np.zeros(n_dies + 1, np.int64)
    for i in range(n):
        count[die[i] + 1] += 1
    start_of = np.cumsum(count)
    fill = start_of[:-1].copy()
    fifo = np.zeros(n, np.int64)
    for k in range(n):
        i = order[k]
        fifo[fill[die[i]]] = i
        fill[die[i]] += 1
    head = start_of[:-1].copy()
    die_busy = np.zeros(n_dies, np.bool_)
    group_lo = np.zeros(n_dies, np.int64)      # current operation's requests: fifo[lo:hi]
    group_hi = np.zeros(n_dies, np.int64)
    draining = np.zeros(n_dies, np.int64)      # transfers of this die still on its channel
    holding = np.zeros(n_dies, np.bool_)       # a finished read waits for the cache register
    hold_lo = np.zeros(n_dies, np.int64)
    hold_hi = np.zeros(n_dies, np.int64)
    # per-channel FIFO of pending transfers (request indices)
    queue = np.zeros(n + n_channels, np.int64)
    qcount = np.zeros(n_channels + 1, np.int64)
    for i in range(n):
        qcount[channel[i] + 1] += 1
    q_base = np.cumsum(qcount)[:-1].copy()
    q_head = q_base.copy()
    q_tail = q_base.copy()
    chan_busy = np.zeros(n_channels, np.bool_)
    heap, state = heap_new(5 * n + 2 * n_dies + 4)
    seq = 0
    for d in range(n_dies):
        if head[d] < start_of[d + 1]:
            heap_push(heap, state, arrival[fifo[head[d]]], seq, d * 3 + _TRY)
            seq += 1
    while heap_size(state) > 0:
        now, _p, payload = heap_pop(heap, state)
        kind = payload % 3
        ident = payload // 3
        if kind == _XFER_DONE:
            r = ident
            c = channel[r]
            chan_busy[c] = False
            d = die[r]
            draining[d] -= 1
            if is_write[r]:
                if draining[d] == 0:      # every page of the write is in the die: program
                    for k in range(group_lo[d], group_hi[d]):
                        op_start[fifo[k]] = now
                        op_end[fifo[k]] = now + tPROG
                    heap_push(heap, state, now + tPROG, seq, d * 3 + _OP_DONE)
                    seq += 1
            else:
                done[r] = now
                if released < n:           # a completion lets the requester send one more
                    heap_push(heap, state, now, seq, die[released] * 3 + _TRY)
                    seq += 1
                    released += 1
                if draining[d] == 0:
                    if holding[d]:         # the waiting read moves to the cache register
                        holding[d] = False
                        for k in range(hold_lo[d], hold_hi[d]):
                            queue[q_tail[c]] = fifo[k]
                            q_tail[c] += 1
                        draining[d] = hold_hi[d] - hold_lo[d]
                        die_busy[d] = False
                        heap_push(heap, state, now, seq, d * 3 + _TRY)
                        seq += 1
                    else:
                        if not cache_read:
                            die_busy[d] = False
                        heap_push(heap, state, now, seq, d * 3 + _TRY)   # a waiting write may start
                        seq += 1
        elif kind == _OP_DONE:
            d = ident
            lo, hi = group_lo[d], group_hi[d]
            if is_write[fifo[lo]]:
                for k in range(lo, hi):
                    done[fifo[k]] = now
                    if released < n:
                        heap_push(heap, state, now, seq, die[released] * 3 + _TRY)
                        seq += 1
                        released += 1
                die_busy[d] = False
                heap_push(heap, state, now, seq, d * 3 + _TRY)
                seq += 1
            else:
                c = channel[fifo[lo]]
                if draining[d] == 0:
                    for k in range(lo, hi):
                        queue[q_tail[c]] = fifo[k]
                        q_tail[c] += 1
                    draining[d] = hi - lo
                    if cache_read:
                        die_busy[d] = False
                        heap_push(heap, state, now, seq, d * 3 + _TRY)
                        seq += 1
                else:
                    holding[d] = True
                    hold_lo[d], hold_hi[d] = lo, hi
        else:   # _TRY: a die that is free starts its next operation if it has arrived
            d = ident
            if not die_busy[d] and head[d] < start_of[d + 1]:
                first = fifo[head[d]]
                if first >= released:
                    pass          # not sent yet: its release pushes this die's next try
                elif arrival[first] > now:
                    heap_push(heap, state, arrival[first], seq, d * 3 + _TRY)
                    seq += 1
                elif is_write[first] and draining[d] > 0:
                    pass          # the register still sends read data out; retried when it drains
                else:
                    lo = head[d]
                    hi = lo + 1
                    limit = planes if multiplane else 1
                    while hi < start_of[d + 1] and hi - lo < limit:
                        nxt = fifo[hi]
                        if nxt >= released or arrival[nxt] > now or is_write[nxt] != is_write[first]:
                            break
                        clash = False
                        for k in range(lo, hi):
                            if plane[fifo[k]] == plane[nxt]:
                                clash = True
                        if clash:
                            break
                        hi += 1
                    head[d] = hi
                    group_lo[d], group_hi[d] = lo, hi
                    die_busy[d] = True
                    if is_write[first]:
                        c = channel[first]
                        for k in range(lo, hi):
                            queue[q_tail[c]] = fifo[k]
                            q_tail[c] += 1
                        draining[d] += hi - lo
                    else:
                        for k in range(lo, hi):
                            op_start[fifo[k]] = now
                            op_end[fifo[k]] = now + tR
                        heap_push(heap, state, now + tR, seq, d * 3 + _OP_DONE)
                        seq += 1
        # every idle channel with a pending transfer starts the oldest one
        for c in range(n_channels):
            if not chan_busy[c] and q_head[c] < q_tail[c]:
                r = queue[q_head[c]]
                q_head[c] += 1
                chan_busy[c] = True
                x_start[r] = now
                x_end[r] = now + xfer
                heap_push(heap, state, now + xfer, seq, r * 3 + _XFER_DONE)
                seq += 1
    return done, op_start, op_end, x_start, x_end
