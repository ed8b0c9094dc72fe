"""Numba kernels of the DRAM model: a trace-driven memory system of per-channel controllers.

Each channel has a read queue, a write queue, an active queue (requests whose row is being
opened), a priority queue (refresh) and a FIFO of reads waiting for their data. Every cycle a
controller (1) returns the oldest finished read, (2) queues a refresh when one is due, (3)
picks a request FR-FCFS (a request whose next command is legal now beats one whose is not;
then the older one), from the active queue first, else the refresh, else the read or write
queue per the write-drain watermarks, and (4) issues that request's next command (ACT, PRE,
RD/WR or RDA/WRA) if every timing rule allows it. A frontend offers the trace's requests in
order, at most one per cycle, and stalls while the target queue is full.

The loop is event-driven: when a whole cycle passes with nothing sent, issued or returned, it
jumps straight to the next cycle at which a command becomes legal, a read returns or a
refresh falls due, which gives the same result as stepping every cycle. Each queue slot keeps
a copy of its request's address and its next command's earliest legal cycle; the copies are
recomputed only after a command changes the channel's state.
"""
import numpy as np
from numba import njit

# commands (same order as standards.COMMANDS)
ACT, PRE, PREA, RD, WR, RDA, WRA, REFAB = 0, 1, 2, 3, 4, 5, 6, 7
N_CMD = 11
# queues; PRIO marks the refresh queue in a pick
QREAD, QWRITE, QACTIVE, PRIO = 0, 1, 2, 3
# fields of a queue slot; the request's node per level follows from F_NODE on
F_REQ, F_CMD, F_T, F_ARRIVE, F_ROW, F_FINAL, F_COUNTED, F_NODE = 0, 1, 2, 3, 4, 5, 6, 7
# counters
C_ROW_HIT, C_ROW_MISS, C_ROW_CONFLICT, C_READS, C_WRITES, C_FORWARDED = 0, 1, 2, 3, 4, 5
C_T_ACCEPT, C_T_RD_DONE, C_LAT_SUM, C_LAT_MAX, C_CYCLES, C_LOG_DROPPED, C_EVENTS = 6, 7, 8, 9, 10, 11, 12
C_CMD0 = 16                      # counters[C_CMD0 + cmd] = commands issued
N_COUNTERS = C_CMD0 + N_CMD
FAR = np.int64(1) << 62


@njit(cache=True)
def _path_ready_time(ready, level_off, nodes, cmd, scope):
    """Cycle from which ``cmd`` on a path of nodes satisfies every rule (-1: always)."""
    t = -1
    for lvl in range(scope[cmd] + 1):
        v = ready[level_off[lvl] + nodes[lvl], cmd]
        if v > t:
            t = v
    return t


@njit(cache=True)
def _update_node(ready, hist, g, cmd, clk, rule_ptr, rule_next, rule_lat, rule_win, key):
    """Record ``cmd`` at global node ``g`` and push its rules' earliest times forward."""
    for w in range(hist.shape[2] - 1, 0, -1):
        hist[g, cmd, w] = hist[g, cmd, w - 1]
    hist[g, cmd, 0] = clk
    for k in range(rule_ptr[key], rule_ptr[key + 1]):
        past = hist[g, cmd, rule_win[k] - 1]
        if past < 0:
            continue
        future = past + rule_lat[k]
        if future > ready[g, rule_next[k]]:
            ready[g, rule_next[k]] = future


@njit(cache=True)
def _issue_timing(ready, hist, level_off, level_size, path, cmd, clk, scope, rule_ptr, rule_next,
                  rule_lat, rule_win):
    """Apply ``cmd``'s rules to the nodes on its path and, below its scope, to every descendant."""
    s = scope[cmd]
    for lvl in range(level_off.shape[0]):
        key = lvl * N_CMD + cmd
        if lvl <= s:
            _update_node(ready, hist, level_off[lvl] + path[lvl], cmd, clk, rule_ptr, rule_next,
                         rule_lat, rule_win, key)
        else:
            first, last = _descendants(path[s], s, lvl, level_size)
            for node in range(first, last):
                _update_node(ready, hist, level_off[lvl] + node, cmd, clk, rule_ptr, rule_next,
                             rule_lat, rule_win, key)


@njit(cache=True)
def _descendants(node, level, down_to, level_size):
    """Index range, at level ``down_to``, of the nodes below ``node`` of ``level``."""
    per = 1
    for j in range(level + 1, down_to + 1):
        per *= level_size[j]
    return node * per, node * per + per


@njit(cache=True)
def _refresh_slot(slots, c, q, s, ready, level_off, open_row, scope, bank_level):
    """Recompute a slot's next command (ACT / PRE / final) and the cycle it becomes legal."""
    row = open_row[slots[c, q, s, F_NODE + bank_level]]
    if row < 0:
        cmd = ACT
    elif row == slots[c, q, s, F_ROW]:
        cmd = slots[c, q, s, F_FINAL]
    else:
        cmd = PRE
    t = -1
    for lvl in range(scope[cmd] + 1):
        v = ready[level_off[lvl] + slots[c, q, s, F_NODE + lvl], cmd]
        if v > t:
            t = v
    slots[c, q, s, F_CMD] = cmd
    slots[c, q, s, F_T] = t


@njit(cache=True)
def _best(slots, qlen, c, q, clk):
    """FR-FCFS over one queue: (slot, ready now?, earliest future ready time)."""
    best, best_ok, best_arrive = -1, False, 0
    next_time = FAR
    for s in range(qlen[c, q]):
        t = slots[c, q, s, F_T]
        ok = t <= clk
        if not ok and t < next_time:
            next_time = t
        arrive = slots[c, q, s, F_ARRIVE]
        if best < 0 or (ok and not best_ok) or (ok == best_ok and arrive < best_arrive):
            best, best_ok, best_arrive = s, ok, arrive
    return best, best_ok, next_time


@njit(cache=True)
def _remove_slot(slots, qlen, c, q, s):
    """Remove a slot by moving the last one into it: order within a queue carries no meaning,
    since FR-FCFS ranks by arrival cycle and no two requests of a queue arrive in one cycle."""
    last = qlen[c, q] - 1
    if s != last:
        for f in range(slots.shape[3]):
            slots[c, q, s, f] = slots[c, q, last, f]
    qlen[c, q] = last


@njit(cache=True)
def _move_slot(slots, qlen, c, q_from, s, q_to):
    for f in range(slots.shape[3]):
        slots[c, q_to, qlen[c, q_to], f] = slots[c, q_from, s, f]
    qlen[c, q_to] += 1
    _remove_slot(slots, qlen, c, q_from, s)


@njit(cache=True)
def _set_write_mode(write_mode, qlen, c, wr_high, wr_low):
    """Write-drain hysteresis: drain writes above the high watermark (or with no read waiting)
    until they fall below the low watermark while reads wait."""
    if not write_mode[c]:
        if qlen[c, QWRITE] >= wr_high or qlen[c, QREAD] == 0:
            write_mode[c] = True
    elif qlen[c, QWRITE] < wr_low and qlen[c, QREAD] != 0:
        write_mode[c] = False


@njit(cache=True)
def _closes_awaited_row(slots, qlen, c, nodes, cmd, scope, bank_level):
    """Would a closing ``cmd`` on ``nodes`` close a bank an activated request is waiting on?"""
    last = min(scope[cmd], bank_level)
    for a in range(qlen[c, QACTIVE]):
        match = True
        for lvl in range(last + 1):
            if slots[c, QACTIVE, a, F_NODE + lvl] != nodes[lvl]:
                match = False
                break
        if match:
            return True
    return False


@njit(cache=True)
def simulate_trace(req_node, req_row, req_col, req_write, req_addr, level_size, read_latency,
                   read_cap, write_cap, wr_high, wr_low, closed_row, refresh_interval,
                   refresh_level, rule_ptr, rule_next, rule_lat, rule_win, scope, bank_level,
                   max_log):
    """Run a request trace through the memory system.

    req_node[r, level]: node index of request r at every level (level 0 = channel), numbered
    hierarchically so that a node's children are contiguous. Returns (counters, arrive, depart,
    log) where log rows are (cycle, command, node at each level..., row, column).
    """
    n = req_row.shape[0]
    n_levels = level_size.shape[0]
    n_ch = level_size[0]
    level_off = np.zeros(n_levels, np.int64)
    level_count = np.zeros(n_levels, np.int64)
    total, count = 0, 1
    for lvl in range(n_levels):
        count *= level_size[lvl]
        level_count[lvl] = count
        level_off[lvl] = total
        total += count
    ready = np.full((total, N_CMD), -1, np.int64)
    hist = np.full((total, N_CMD, 4), -1, np.int64)
    open_row = np.full(level_count[bank_level], -1, np.int64)
    cap = max(read_cap, write_cap) + 1
    slots = np.zeros((n_ch, 3, 2 * cap + 4, F_NODE + n_levels), np.int64)
    qlen = np.zeros((n_ch, 3), np.int64)
    dirty = np.zeros(n_ch, np.bool_)           # a command issued since the slot copies were made
    min_t = np.full(n_ch, FAR, np.int64)       # lower bound of a channel's slot ready times
    pend_cap = 4096
    pend = np.zeros((n_ch, pend_cap), np.int64)
    pend_head = np.zeros(n_ch, np.int64)
    pend_len = np.zeros(n_ch, np.int64)
    write_mode = np.zeros(n_ch, np.bool_)
    ref_per_ch = level_count[refresh_level] // n_ch
    prio = np.zeros((n_ch, 4 * ref_per_ch + 4), np.int64)
    prio_len = np.zeros(n_ch, np.int64)
    next_ref = np.full(n_ch, refresh_interval if refresh_interval > 0 else FAR, np.int64)
    arrive = np.full(n, -1, np.int64)
    depart = np.full(n, -1, np.int64)
    counters = np.zeros(N_COUNTERS, np.int64)
    log = np.zeros((max_log, n_levels + 4), np.int64)
    n_log = 0
    path = np.zeros(n_levels, np.int64)
    n_reads = n - int(req_write.sum())
    served, sent, clk = 0, 0, 0
    while sent < n or served < n_reads:
        activity = False
        # ---- frontend: offer the next request (before the memory system ticks) ----
        if sent < n:
            r = sent
            c = req_node[r, 0]
            q = QWRITE if req_write[r] else QREAD
            accepted = False
            if q == QREAD:
                for s in range(qlen[c, QWRITE]):
                    if req_addr[slots[c, QWRITE, s, F_REQ]] == req_addr[r]:
                        # the data is in the write queue: return it next cycle
                        arrive[r], depart[r] = clk, clk + 1
                        pend[c, (pend_head[c] + pend_len[c]) % pend_cap] = r
                        pend_len[c] += 1
                        counters[C_FORWARDED] += 1
                        accepted = True
                        break
            if not accepted and qlen[c, q] < (read_cap if q == QREAD else write_cap):
                s = qlen[c, q]
                slots[c, q, s, F_REQ] = r
                slots[c, q, s, F_ARRIVE] = clk
                slots[c, q, s, F_ROW] = req_row[r]
                if req_write[r]:
                    slots[c, q, s, F_FINAL] = WRA if closed_row else WR
                else:
                    slots[c, q, s, F_FINAL] = RDA if closed_row else RD
                slots[c, q, s, F_COUNTED] = 0
                slots[c, q, s, F_NODE:] = req_node[r, :]
                qlen[c, q] += 1
                if not dirty[c]:
                    _refresh_slot(slots, c, q, s, ready, level_off, open_row, scope, bank_level)
                    min_t[c] = min(min_t[c], slots[c, q, s, F_T])
                arrive[r] = clk
                accepted = True
            if accepted:
                sent += 1
                activity = True
                if sent == n:
                    counters[C_T_ACCEPT] = clk
        # ---- memory system tick ----
        clk += 1
        next_event = FAR
        for c in range(n_ch):
            # (1) return the oldest read whose data has arrived
            if pend_len[c] > 0:
                r = pend[c, pend_head[c]]
                if depart[r] <= clk:
                    pend_head[c] = (pend_head[c] + 1) % pend_cap
                    pend_len[c] -= 1
                    served += 1
                    activity = True
                    latency = depart[r] - arrive[r]
                    if latency > 1:
                        counters[C_LAT_SUM] += latency
                        counters[C_LAT_MAX] = max(counters[C_LAT_MAX], latency)
                    # cycles are counted as the peers' drivers count them: tick k of the
                    # memory system is cycle k - 1 (the frontend offers at k - 1, then tick k)
                    counters[C_T_RD_DONE] = clk - 1
                else:
                    next_event = min(next_event, depart[r])
            # (2) a refresh falls due: one REFab per refresh-scope node of the channel
            if clk == next_ref[c]:
                for k in range(ref_per_ch):
                    prio[c, prio_len[c]] = c * ref_per_ch + k
                    prio_len[c] += 1
                next_ref[c] += refresh_interval
                activity = True
            next_event = min(next_event, next_ref[c])
            # (3) pick a request
            if dirty[c]:
                min_t[c] = FAR
                for qq in range(3):
                    for s in range(qlen[c, qq]):
                        _refresh_slot(slots, c, qq, s, ready, level_off, open_row, scope, bank_level)
                        min_t[c] = min(min_t[c], slots[c, qq, s, F_T])
                dirty[c] = False
            if prio_len[c] == 0 and clk < min_t[c]:
                # no queued command is legal yet: only the write-drain mode can change now
                _set_write_mode(write_mode, qlen, c, wr_high, wr_low)
                next_event = min(next_event, min_t[c])
                continue
            q, s, cmd = -1, -1, -1
            if qlen[c, QACTIVE] > 0:
                s, ok, t = _best(slots, qlen, c, QACTIVE, clk)
                next_event = min(next_event, t)
                if ok:
                    q = QACTIVE
            if q < 0 and prio_len[c] > 0:
                # a due refresh blocks everything else until it issues
                node = prio[c, 0]
                for lvl in range(refresh_level, -1, -1):
                    path[lvl] = node
                    node = node // level_size[lvl]
                first, last = _descendants(path[refresh_level], refresh_level, bank_level, level_size)
                cmd = REFAB
                for b in range(first, last):
                    if open_row[b] >= 0:
                        cmd = PREA
                        break
                t = _path_ready_time(ready, level_off, path, cmd, scope)
                if t > clk:
                    next_event = min(next_event, t)
                    continue
                q = PRIO
            if q < 0:
                _set_write_mode(write_mode, qlen, c, wr_high, wr_low)
                qq = QWRITE if write_mode[c] else QREAD
                if qlen[c, qq] == 0:
                    continue
                s, ok, t = _best(slots, qlen, c, qq, clk)
                next_event = min(next_event, t)
                if not ok:
                    continue
                q = qq
            if q != PRIO:
                cmd = slots[c, q, s, F_CMD]
                path[:] = slots[c, q, s, F_NODE:]
            # a closing command must not close a row an activated request is waiting for
            if (cmd == PRE or cmd == PREA or cmd == RDA or cmd == WRA) and \
                    _closes_awaited_row(slots, qlen, c, path, cmd, scope, bank_level):
                continue
            # (4) issue
            activity = True
            dirty[c] = True
            if q != PRIO and slots[c, q, s, F_COUNTED] == 0:
                # row-buffer outcome, judged when the request's first command issues
                row = open_row[path[bank_level]]
                if row == slots[c, q, s, F_ROW]:
                    counters[C_ROW_HIT] += 1
                elif row >= 0:
                    counters[C_ROW_CONFLICT] += 1
                else:
                    counters[C_ROW_MISS] += 1
                slots[c, q, s, F_COUNTED] = 1
            _issue_timing(ready, hist, level_off, level_size, path, cmd, clk, scope, rule_ptr,
                          rule_next, rule_lat, rule_win)
            counters[C_CMD0 + cmd] += 1
            if n_log < max_log:
                log[n_log, 0] = clk
                log[n_log, 1] = cmd
                for lvl in range(n_levels):
                    log[n_log, 2 + lvl] = path[lvl] if (q != PRIO or lvl <= refresh_level) else -1
                r = slots[c, q, s, F_REQ] if q != PRIO else -1
                log[n_log, 2 + n_levels] = req_row[r] if r >= 0 else -1
                log[n_log, 3 + n_levels] = req_col[r] if r >= 0 else -1
                n_log += 1
            else:
                counters[C_LOG_DROPPED] += 1
            # bank state
            if cmd == ACT:
                open_row[path[bank_level]] = slots[c, q, s, F_ROW]
            elif cmd == PRE or cmd == RDA or cmd == WRA:
                open_row[path[bank_level]] = -1
            elif cmd == PREA:
                first, last = _descendants(path[scope[PREA]], scope[PREA], bank_level, level_size)
                open_row[first:last] = -1
            # request state
            if q == PRIO:
                if cmd == REFAB:
                    prio[c, :prio_len[c] - 1] = prio[c, 1:prio_len[c]]
                    prio_len[c] -= 1
            elif cmd == slots[c, q, s, F_FINAL]:
                r = slots[c, q, s, F_REQ]
                if req_write[r]:
                    counters[C_WRITES] += 1
                else:
                    counters[C_READS] += 1
                    depart[r] = clk + read_latency
                    pend[c, (pend_head[c] + pend_len[c]) % pend_cap] = r
                    pend_len[c] += 1
                _remove_slot(slots, qlen, c, q, s)
            elif cmd == ACT:
                _move_slot(slots, qlen, c, q, s, QACTIVE)
        counters[C_EVENTS] += 1
        # ---- nothing happened anywhere: jump to the cycle before the next event ----
        if not activity:
            if next_event >= FAR:
                raise RuntimeError("DRAM controller deadlock: requests queued but no event ahead")
            if next_event > clk + 1:
                clk = next_event - 1
    counters[C_CYCLES] = clk
    return counters, arrive, depart, log[:n_log]
