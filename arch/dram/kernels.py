"""Numba kernels of the DRAM model: the shared timing state and the FR-FCFS trace controller.

Timing state (used by every controller here and by the PIM command streams of ``arch/pim``):
per-level node offsets into one flat node numbering, the ready table (earliest cycle of each
command on each node), issue-history rings for windowed rules, and ``_record_command``, the
effect of one issued command on them. The command set is the standard's (data): its size is
the second dimension of the ready table, never a constant here; the JEDEC commands below sit
at the same codes in every standard (``standards.DRAM_COMMANDS`` opens every command set).

The trace controller: each channel has a read queue, a write queue, an active queue (requests
whose row is being opened), a priority queue (refresh) and a FIFO of reads waiting for their
data. Every cycle a controller (1) returns the oldest finished read, (2) queues a refresh when
one is due, (3) picks a request FR-FCFS (a request whose next command is legal now beats one
whose is not; then the older one), from the active queue first, else the refresh, else the
read or write queue per the write-drain watermarks, and (4) issues that request's next command
(ACT, PRE, RD/WR or RDA/WRA) if every timing rule allows it. A frontend offers the trace's
requests in order, at most one per cycle, and stalls while the target queue is full.

The loop is event-driven: when a whole cycle passes with nothing sent, issued or returned, it
jumps straight to the next cycle at which a command becomes legal, a read returns or a
refresh falls due, which gives the same result as stepping every cycle. Each queued request
has a pool entry with a copy of its address and its next command's earliest legal cycle (the
queues hold pool indices, oldest first); the cycles are kept as lower bounds: a command only ever raises the cycles at which others become legal, so
after an issue only the slots of the same bank (whose next command may change) are recomputed
at once, and any other slot is recomputed when its bound says it might be legal now.
"""
from collections import namedtuple

import numpy as np
from numba import njit

# Every call between numba functions pays atomic reference counting on its array arguments,
# so code that runs per queue slot or per node lives in one function with plain loops, and
# helpers called every cycle take scalars only.

# JEDEC command codes (standards.DRAM_COMMANDS: the first codes of every standard's set)
ACT, PRE, PREA, RD, WR, RDA, WRA, REFAB = 0, 1, 2, 3, 4, 5, 6, 7
# queues; PRIO marks the refresh queue in a pick
QREAD, QWRITE, QACTIVE, PRIO = 0, 1, 2, 3
# fields of a queue slot; the request's node per level follows from F_NODE on
F_REQ, F_CMD, F_T, F_ARRIVE, F_ROW, F_FINAL, F_COUNTED, F_VER, F_NODE = 0, 1, 2, 3, 4, 5, 6, 7, 8
# counters
C_ROW_HIT, C_ROW_MISS, C_ROW_CONFLICT, C_READS, C_WRITES, C_FORWARDED = 0, 1, 2, 3, 4, 5
C_T_ACCEPT, C_T_RD_DONE, C_LAT_SUM, C_LAT_MAX, C_CYCLES, C_LOG_DROPPED, C_EVENTS = 6, 7, 8, 9, 10, 11, 12
C_T_WR_DONE = 13
C_OPEN_CYCLES = 14                # cycles with a row open, summed over channels (background energy)
C_CMD0 = 16                      # counters[C_CMD0 + cmd] = commands issued (one per command code)
FAR = np.int64(1) << 62
PEND_CAP = 4096                  # reads in flight per channel (issued, data not yet returned)


@njit(cache=True)
def _record_command(ready, hist, head, level_off, level_size, path, cmd, clk, scope, rule_ptr,
                    rule_next, rule_lat, rule_win):
    """Timing effect of issuing ``cmd`` at ``clk``: record it on the nodes on its path (and,
    below its scope, on every descendant) and push each of its rules' earliest times forward;
    a rule with window w counts from the w-th most recent issue (tFAW, t32AW). Called once per
    command, so its array arguments' reference counting is paid per command, not per slot."""
    sc = scope[cmd]
    n_cmd = ready.shape[1]
    for lvl in range(level_off.shape[0]):
        key = lvl * n_cmd + cmd
        if lvl <= sc:
            first, last = path[lvl], path[lvl] + 1
        else:
            first, last = _descendants(path[sc], sc, lvl, level_size)
        for node in range(first, last):
            _record_on_node(ready, hist, head, level_off[lvl] + node, cmd, clk, key, rule_ptr,
                            rule_next, rule_lat, rule_win)


@njit(cache=True, inline="always")
def _record_on_node(ready, hist, head, g, cmd, clk, key, rule_ptr, rule_next, rule_lat, rule_win):
    """Push ``clk`` into the issue history of (node g, cmd), a ring of the longest window's
    depth, and apply the rules of (level, cmd) that start from its w-th most recent issue."""
    depth = hist.shape[2]
    h = head[g, cmd] + 1
    if h == depth:
        h = 0
    head[g, cmd] = h
    hist[g, cmd, h] = clk
    for k in range(rule_ptr[key], rule_ptr[key + 1]):
        slot = h - (rule_win[k] - 1)
        if slot < 0:
            slot += depth
        past = hist[g, cmd, slot]
        if past >= 0 and past + rule_lat[k] > ready[g, rule_next[k]]:
            ready[g, rule_next[k]] = past + rule_lat[k]


@njit(cache=True, inline="always")
def bank_opened(open_banks, open_since, c, clk):
    """A row opened in channel c: the channel is active from now if it was not already."""
    if open_banks[c] == 0:
        open_since[c] = clk
    open_banks[c] += 1


@njit(cache=True, inline="always")
def bank_closed(open_banks, open_since, counters, c, clk):
    """A row closed in channel c: the channel's active interval ends with its last open row."""
    open_banks[c] -= 1
    if open_banks[c] == 0:
        counters[C_OPEN_CYCLES] += clk - open_since[c]


@njit(cache=True)
def close_active_intervals(open_banks, open_since, counters, end):
    """At the end of a run: channels still holding an open row were active until ``end``."""
    for c in range(open_banks.shape[0]):
        if open_banks[c] > 0:
            counters[C_OPEN_CYCLES] += end - open_since[c]


@njit(cache=True)
def log_command(log, n_log, counters, clk, cmd, path, shown_levels, row, col):
    """Append an issued command to the command log (cycle, command, node per level - the
    first ``shown_levels`` of its path, -1 below -, row, column); count it as dropped when
    the log is full. Returns the new log length."""
    if n_log >= log.shape[0]:
        counters[C_LOG_DROPPED] += 1
        return n_log
    n_levels = path.shape[0]
    log[n_log, 0] = clk
    log[n_log, 1] = cmd
    for lvl in range(n_levels):
        log[n_log, 2 + lvl] = path[lvl] if lvl < shown_levels else -1
    log[n_log, 2 + n_levels] = row
    log[n_log, 3 + n_levels] = col
    return n_log + 1


@njit(cache=True)
def trace_outputs(n_levels, n_cmd, max_log):
    """What a trace-driven controller fills in besides each request's arrival and departure:
    the counters (a command count per code of the standard's set), the command log and a
    scratch path of nodes."""
    return (np.zeros(C_CMD0 + n_cmd, np.int64), np.zeros((max_log, n_levels + 4), np.int64),
            np.zeros(n_levels, np.int64))


@njit(cache=True)
def timing_state(level_size, n_cmd, rule_win):
    """The timing state of a memory system with ``n_cmd`` commands: per-level node offsets
    and counts into one flat node numbering, the ready table (earliest cycle of each command on
    each node) and the issue-history rings (per node and command, the longest rule window deep)."""
    n_levels = level_size.shape[0]
    level_off = np.zeros(n_levels, np.int64)
    level_count = np.zeros(n_levels, np.int64)
    total, count = 0, 1
    for lvl in range(n_levels):
        count *= level_size[lvl]
        level_count[lvl] = count
        level_off[lvl] = total
        total += count
    ready = np.full((total, n_cmd), -1, np.int64)
    hist = np.full((total, n_cmd, history_depth(rule_win)), -1, np.int64)
    head = np.zeros((total, n_cmd), np.int64)
    return level_off, level_count, ready, hist, head


@njit(cache=True)
def rule_targets(rule_ptr, rule_next, n_levels):
    """targeted[level, cmd]: whether any rule on that level bounds ``cmd`` (else the ready
    table holds -1 there forever and need not be read)."""
    n_cmd = (rule_ptr.shape[0] - 1) // n_levels
    targeted = np.zeros((n_levels, n_cmd), np.bool_)
    for lvl in range(n_levels):
        for prev in range(n_cmd):
            key = lvl * n_cmd + prev
            for k in range(rule_ptr[key], rule_ptr[key + 1]):
                targeted[lvl, rule_next[k]] = True
    return targeted


@njit(cache=True)
def history_depth(rule_win):
    """Issue-history depth the rules need: their longest window (at least 1)."""
    depth = 1
    for k in range(rule_win.shape[0]):
        depth = max(depth, rule_win[k])
    return depth


@njit(cache=True)
def _descendants(node, level, down_to, level_size):
    """Index range, at level ``down_to``, of the nodes below ``node`` of ``level``."""
    per = 1
    for j in range(level + 1, down_to + 1):
        per *= level_size[j]
    return node * per, node * per + per


@njit(cache=True)
def _slot_ready_time(pool, c, p, ready, level_off, scope):
    """Exact cycle from which a slot's cached next command satisfies every rule."""
    cmd = pool[c, p, F_CMD]
    t = -1
    for lvl in range(scope[cmd] + 1):
        v = ready[level_off[lvl] + pool[c, p, F_NODE + lvl], cmd]
        if v > t:
            t = v
    return t


@njit(cache=True)
def _next_command(open_row, row, final):
    """ACT if the bank is closed, PRE if another row is open, else the request's own RD/WR."""
    if open_row < 0:
        return ACT
    if open_row == row:
        return final
    return PRE


@njit(cache=True)
def _refresh_slot(pool, c, p, ready, level_off, open_row, scope, bank_level, version):
    """Recompute a slot's next command (ACT / PRE / final) and the cycle it becomes legal."""
    cmd = _next_command(open_row[pool[c, p, F_NODE + bank_level]], pool[c, p, F_ROW], pool[c, p, F_FINAL])
    pool[c, p, F_CMD] = cmd
    pool[c, p, F_T] = _slot_ready_time(pool, c, p, ready, level_off, scope)
    pool[c, p, F_VER] = version


@njit(cache=True)
def _unlink(order, qlen, c, q, pos):
    """Drop position ``pos`` from a queue's order, keeping the rest in order."""
    for i in range(pos, qlen[c, q] - 1):
        order[c, q, i] = order[c, q, i + 1]
    qlen[c, q] -= 1


@njit(cache=True)
def _write_mode(drain, writes, reads, wr_high, wr_low):
    """Write-drain hysteresis: drain writes above the high watermark (or with no read waiting)
    until they fall below the low watermark while reads wait."""
    if not drain:
        return writes >= wr_high or reads == 0
    return not (writes < wr_low and reads != 0)


@njit(cache=True)
def _closes_awaited_row(pool, order, qlen, c, nodes, cmd, scope, bank_level, issuer):
    """Would a closing ``cmd`` on ``nodes`` close a bank another activated request (not the
    ``issuer`` pool entry itself, whose own RDA/WRA may close it) is waiting on?"""
    last = min(scope[cmd], bank_level)
    for a in range(qlen[c, QACTIVE]):
        p = order[c, QACTIVE, a]
        if p == issuer:
            continue
        match = True
        for lvl in range(last + 1):
            if pool[c, p, F_NODE + lvl] != nodes[lvl]:
                match = False
                break
        if match:
            return True
    return False


# the scalars a trace controller keeps between two calls (its state's ``scalars``)
S_LOG, S_SERVED, S_SENT, S_CLK, S_STUCK, S_LAST_DEPART = 0, 1, 2, 3, 4, 5
ControllerState = namedtuple("ControllerState", (
    "level_off", "level_count", "ready", "hist", "head", "open_row", "pool", "free", "free_len", "order",
    "qlen", "version", "min_t", "pend", "pend_head", "pend_len", "open_banks", "open_since", "write_mode",
    "prio", "prio_len", "next_ref", "counters", "log", "path", "scalars"))


@njit(cache=True)
def controller_state(level_size, n_cmd, rule_win, bank_level, read_cap, write_cap, refresh_interval,
                     refresh_level, max_log):
    """Everything the FR-FCFS controller carries from one call of ``simulate_trace`` to the next
    (a trace runs in chunks): timing state, banks, queues, counters, command log, scalars."""
    n_levels = level_size.shape[0]
    n_ch = level_size[0]
    level_off, level_count, ready, hist, head = timing_state(level_size, n_cmd, rule_win)
    open_row = np.full(level_count[bank_level], -1, np.int64)
    cap = max(read_cap, write_cap) + 1
    pool_size = 3 * cap + 8
    pool = np.zeros((n_ch, pool_size, F_NODE + n_levels), np.int64)   # request copies
    free = np.zeros((n_ch, pool_size), np.int64)                       # free pool entries
    free_len = np.full(n_ch, pool_size, np.int64)
    for c in range(n_ch):
        for k in range(pool_size):
            free[c, k] = pool_size - 1 - k
    order = np.zeros((n_ch, 3, pool_size), np.int64)                   # queues, oldest first
    qlen = np.zeros((n_ch, 3), np.int64)
    version = np.zeros(n_ch, np.int64)         # commands issued per channel (slot staleness)
    min_t = np.full((n_ch, 3), FAR, np.int64)  # lower bound of each queue's slot ready times
    pend = np.zeros((n_ch, PEND_CAP), np.int64)
    pend_head = np.zeros(n_ch, np.int64)
    pend_len = np.zeros(n_ch, np.int64)
    open_banks = np.zeros(n_ch, np.int64)      # rows open per channel, and since when one is
    open_since = np.zeros(n_ch, np.int64)
    write_mode = np.zeros(n_ch, np.bool_)
    ref_per_ch = level_count[refresh_level] // n_ch
    prio = np.zeros((n_ch, 4 * ref_per_ch + 4), np.int64)
    prio_len = np.zeros(n_ch, np.int64)
    next_ref = np.full(n_ch, refresh_interval if refresh_interval > 0 else FAR, np.int64)
    counters, log, path = trace_outputs(n_levels, n_cmd, max_log)
    scalars = np.zeros(8, np.int64)
    return ControllerState(level_off, level_count, ready, hist, head, open_row, pool, free, free_len,
                           order, qlen, version, min_t, pend, pend_head, pend_len, open_banks,
                           open_since, write_mode, prio, prio_len, next_ref, counters, log, path,
                           scalars)


@njit(cache=True, nogil=True)   # arrays only: a progress display may tick meanwhile
def simulate_trace(state, req_node, req_row, req_col, req_write, req_addr, req_cycle, arrive, depart,
                   stop_at, n_reads, n_writes, level_size, read_latency, read_cap, write_cap, wr_high,
                   wr_low, closed_row, refresh_interval, refresh_level, rule_ptr, rule_next, rule_lat,
                   rule_win, scope, bank_level, max_log):
    """Run requests of a trace through the memory system, from and into ``state``
    (``controller_state``).

    The request arrays are a window of the trace: the requests still in flight from the last
    call, then new ones (the caller renumbers the state's request indices to the window).
    req_node[r, level]: node index of request r at every level (level 0 = channel), numbered
    hierarchically so that a node's children are contiguous. req_cycle[r]: the cycle from which
    the frontend may offer request r (0 for untimed traces; requests stay in trace order, as
    DRAMsim3's trace CPU offers a request once its cycle has come). The run stops when the
    frontend is about to offer request ``stop_at``; with ``stop_at`` the window's length it
    is the trace's last window and runs until ``n_reads`` reads have returned and ``n_writes``
    writes have issued (counts over the whole trace). arrive[r], depart[r] are filled in;
    counters and the command log (rows: cycle, command, node at each level..., row, column)
    are in the state.
    """
    (level_off, level_count, ready, hist, head, open_row, pool, free, free_len, order, qlen,
     version, min_t, pend, pend_head, pend_len, open_banks, open_since, write_mode, prio,
     prio_len, next_ref, counters, log, path, scalars) = state
    n = req_row.shape[0]
    n_levels = level_size.shape[0]
    n_ch = level_size[0]
    ref_per_ch = level_count[refresh_level] // n_ch
    n_log, served, sent = scalars[S_LOG], scalars[S_SERVED], scalars[S_SENT]
    clk, stuck = scalars[S_CLK], scalars[S_STUCK]
    last_window = stop_at == n
    # run until every read has returned and every write has been issued (writes are posted:
    # draining them after the last read changes no read figure)
    while sent < stop_at or (last_window and (served < n_reads or counters[C_WRITES] < n_writes)):
        activity = False
        # ---- frontend: offer the next request (before the memory system ticks) ----
        if sent < n and req_cycle[sent] <= clk:
            r = sent
            c = req_node[r, 0]
            q = QWRITE if req_write[r] else QREAD
            accepted = False
            if q == QREAD:
                for s in range(qlen[c, QWRITE]):
                    if req_addr[pool[c, order[c, QWRITE, s], F_REQ]] == req_addr[r]:
                        # the data is in the write queue: return it next cycle
                        arrive[r], depart[r] = clk, clk + 1
                        pend[c, (pend_head[c] + pend_len[c]) % PEND_CAP] = r
                        pend_len[c] += 1
                        counters[C_FORWARDED] += 1
                        accepted = True
                        break
            if not accepted and qlen[c, q] < (read_cap if q == QREAD else write_cap):
                free_len[c] -= 1
                p = free[c, free_len[c]]
                order[c, q, qlen[c, q]] = p
                qlen[c, q] += 1
                pool[c, p, F_REQ] = r
                pool[c, p, F_ARRIVE] = clk
                pool[c, p, F_ROW] = req_row[r]
                if req_write[r]:
                    pool[c, p, F_FINAL] = WRA if closed_row else WR
                else:
                    pool[c, p, F_FINAL] = RDA if closed_row else RD
                pool[c, p, F_COUNTED] = 0
                for lvl in range(n_levels):   # element loops: slicing would refcount views
                    pool[c, p, F_NODE + lvl] = req_node[r, lvl]
                _refresh_slot(pool, c, p, ready, level_off, open_row, scope, bank_level, version[c])
                min_t[c, q] = min(min_t[c, q], pool[c, p, F_T])
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
                    pend_head[c] = (pend_head[c] + 1) % PEND_CAP
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
            if prio_len[c] == 0 and clk < min_t[c, QACTIVE]:
                # nothing activated is legal yet, so the controller consults its drain mode
                write_mode[c] = _write_mode(write_mode[c], qlen[c, QWRITE], qlen[c, QREAD], wr_high, wr_low)
                mode_q = QWRITE if write_mode[c] else QREAD
                if clk < min_t[c, mode_q]:
                    # nothing it could pick is legal yet: an idle cycle for this channel
                    next_event = min(next_event, min(min_t[c, QACTIVE], min_t[c, mode_q]))
                    continue
            # FR-FCFS, first over the activated requests, then (unless a refresh is due) over
            # the read or write queue per the drain mode. The scan is written out here, not
            # called, because it runs per queue slot (see the note at the top of the module).
            # Cached ready cycles are lower bounds once the channel has issued another command,
            # so a bound is made exact whenever it could decide the outcome. In a queue kept in
            # arrival order the scan stops at the first legal request: nothing younger can beat
            # it, and only older, not-yet-legal requests can overtake it later.
            q, s, cmd = -1, -1, -1
            for scan in range(2):
                if scan == 0:
                    qq = QACTIVE
                    if qlen[c, qq] == 0:
                        continue
                else:
                    if prio_len[c] > 0:
                        # a due refresh blocks everything else until it issues
                        node = prio[c, 0]
                        for lvl in range(refresh_level, -1, -1):
                            path[lvl] = node
                            node = node // level_size[lvl]
                        first, last = _descendants(path[refresh_level], refresh_level, bank_level,
                                                   level_size)
                        cmd = REFAB
                        for b in range(first, last):
                            if open_row[b] >= 0:
                                cmd = PREA
                                break
                        t = _ready_on(ready, level_off, level_size, path, cmd, scope)
                        if t <= clk:
                            q = PRIO
                        else:
                            next_event = min(next_event, t)
                        break
                    write_mode[c] = _write_mode(write_mode[c], qlen[c, QWRITE], qlen[c, QREAD],
                                                wr_high, wr_low)
                    qq = QWRITE if write_mode[c] else QREAD
                    if qlen[c, qq] == 0:
                        break
                best, best_ok, best_arrive, next_time = -1, False, 0, FAR
                for pos in range(qlen[c, qq]):
                    pe = order[c, qq, pos]
                    t = pool[c, pe, F_T]
                    if (t <= clk or t < next_time) and pool[c, pe, F_VER] != version[c]:
                        pcmd = pool[c, pe, F_CMD]
                        t = -1
                        for lvl in range(scope[pcmd] + 1):
                            v = ready[level_off[lvl] + pool[c, pe, F_NODE + lvl], pcmd]
                            if v > t:
                                t = v
                        pool[c, pe, F_T] = t
                        pool[c, pe, F_VER] = version[c]
                    ok = t <= clk
                    if not ok and t < next_time:
                        next_time = t
                    arrive_pe = pool[c, pe, F_ARRIVE]
                    if best < 0 or (ok and not best_ok) or (ok == best_ok and arrive_pe < best_arrive):
                        best, best_ok, best_arrive = pos, ok, arrive_pe
                    if ok and qq != QACTIVE:
                        break
                min_t[c, qq] = clk if best_ok else next_time
                next_event = min(next_event, next_time)
                if best_ok:
                    q, s = qq, best
                    break
            if q < 0:
                continue
            p = order[c, q, s] if q != PRIO else -1
            if q != PRIO:
                cmd = pool[c, p, F_CMD]
                for lvl in range(n_levels):
                    path[lvl] = pool[c, p, F_NODE + lvl]
            # a closing command must not close a row an activated request is waiting for
            if (cmd == PRE or cmd == PREA or cmd == RDA or cmd == WRA) and \
                    _closes_awaited_row(pool, order, qlen, c, path, cmd, scope, bank_level, p):
                continue
            # (4) issue
            activity = True
            version[c] += 1
            if q != PRIO and pool[c, p, F_COUNTED] == 0:
                # row-buffer outcome, judged when the request's first command issues
                row = open_row[path[bank_level]]
                if row == pool[c, p, F_ROW]:
                    counters[C_ROW_HIT] += 1
                elif row >= 0:
                    counters[C_ROW_CONFLICT] += 1
                else:
                    counters[C_ROW_MISS] += 1
                pool[c, p, F_COUNTED] = 1
            _record_command(ready, hist, head, level_off, level_size, path, cmd, clk, scope,
                            rule_ptr, rule_next, rule_lat, rule_win)
            counters[C_CMD0 + cmd] += 1
            r = pool[c, p, F_REQ] if q != PRIO else -1
            n_log = log_command(log, n_log, counters, clk, cmd, path,
                                n_levels if q != PRIO else refresh_level + 1,
                                req_row[r] if r >= 0 else -1, req_col[r] if r >= 0 else -1)
            # bank state
            if cmd == ACT:
                bank_opened(open_banks, open_since, c, clk)
                open_row[path[bank_level]] = pool[c, p, F_ROW]
            elif cmd == PRE or cmd == RDA or cmd == WRA:
                if open_row[path[bank_level]] >= 0:
                    bank_closed(open_banks, open_since, counters, c, clk)
                open_row[path[bank_level]] = -1
            elif cmd == PREA:
                first, last = _descendants(path[scope[PREA]], scope[PREA], bank_level, level_size)
                for b in range(first, last):
                    if open_row[b] >= 0:
                        bank_closed(open_banks, open_since, counters, c, clk)
                    open_row[b] = -1
            # request state
            if q == PRIO:
                if cmd == REFAB:
                    for k in range(prio_len[c] - 1):
                        prio[c, k] = prio[c, k + 1]
                    prio_len[c] -= 1
            elif cmd == pool[c, p, F_FINAL]:
                r = pool[c, p, F_REQ]
                if req_write[r]:
                    counters[C_WRITES] += 1
                    counters[C_T_WR_DONE] = clk - 1
                else:
                    counters[C_READS] += 1
                    depart[r] = clk + read_latency
                    pend[c, (pend_head[c] + pend_len[c]) % PEND_CAP] = r
                    pend_len[c] += 1
                _unlink(order, qlen, c, q, s)
                free[c, free_len[c]] = p
                free_len[c] += 1
            elif cmd == ACT:
                _unlink(order, qlen, c, q, s)
                order[c, QACTIVE, qlen[c, QACTIVE]] = p
                qlen[c, QACTIVE] += 1
                min_t[c, QACTIVE] = -1
            # slots of the banks whose state changed may need another command now (the bank, or
            # every bank below a PREA's node); other slots keep their command, and their cached
            # cycle stays a lower bound that a pick makes exact when it matters
            if cmd == ACT or cmd == PRE or cmd == PREA or cmd == RDA or cmd == WRA:
                sc = scope[PREA] if cmd == PREA else bank_level
                for qq in range(3):
                    for pos in range(qlen[c, qq]):
                        pe = order[c, qq, pos]
                        if pool[c, pe, F_NODE + sc] != path[sc]:
                            continue
                        pcmd = _next_command(open_row[pool[c, pe, F_NODE + bank_level]],
                                             pool[c, pe, F_ROW], pool[c, pe, F_FINAL])
                        t = -1
                        for lvl in range(scope[pcmd] + 1):
                            v = ready[level_off[lvl] + pool[c, pe, F_NODE + lvl], pcmd]
                            if v > t:
                                t = v
                        pool[c, pe, F_CMD] = pcmd
                        pool[c, pe, F_T] = t
                        pool[c, pe, F_VER] = version[c]
                        min_t[c, qq] = min(min_t[c, qq], t)
        if sent < n and req_cycle[sent] >= clk:
            # the frontend offers at the top of the loop once its cycle has come: at the next
            # iteration for a request that fell due during this tick (one due earlier was
            # offered, or waits for room in its queue, which only an issue makes)
            next_event = min(next_event, req_cycle[sent] + 1)
        counters[C_EVENTS] += 1
        # ---- nothing happened anywhere: jump to the cycle before the next event ----
        if activity:
            stuck = 0
        else:
            stuck += 1
            if next_event >= FAR or stuck > 10_000_000:
                raise RuntimeError("DRAM controller deadlock: requests queued but nothing can issue")
            if next_event > clk + 1 and max_log == 0 and sent < n:
                # an idle gap before the next arrival: whole refresh periods in which every bank
                # is closed and nothing is queued repeat exactly, so count them and go past
                resume = _skip_idle_refreshes(clk, req_cycle[sent], refresh_interval, ref_per_ch, next_ref,
                                              qlen, pend_len, prio_len, open_banks, counters)
                if resume != clk:
                    clk = resume
                    next_event = min(req_cycle[sent] + 1, next_ref.min())
            if next_event > clk + 1:
                clk = next_event - 1
    scalars[S_LOG], scalars[S_SERVED], scalars[S_SENT] = n_log, served, sent
    scalars[S_CLK], scalars[S_STUCK] = clk, stuck
    if last_window:
        counters[C_CYCLES] = clk
        close_active_intervals(open_banks, open_since, counters, clk)


@njit(cache=True)
def _skip_idle_refreshes(clk, next_arrival, refresh_interval, ref_per_ch, next_ref, qlen, pend_len, prio_len,
                         open_banks, counters):
    """The cycle to resume from after skipping the refresh periods of an idle gap (all-bank
    refreshes of closed banks, nothing queued or in flight), counting their REFab commands;
    the last two periods before the arrival are simulated as usual."""
    if refresh_interval <= 0 or qlen.sum() or pend_len.sum() or prio_len.sum() or open_banks.sum():
        return clk
    periods = (next_arrival - clk) // refresh_interval - 2
    if periods <= 0:
        return clk
    for c in range(next_ref.shape[0]):
        next_ref[c] += periods * refresh_interval
    counters[C_CMD0 + REFAB] += periods * ref_per_ch * next_ref.shape[0]
    return clk + periods * refresh_interval


# ---- processing-in-memory command streams ------------------------------------------------------
@njit(cache=True)
def _ready_on(ready, level_off, level_size, path, cmd, scope):
    """First cycle at which ``cmd`` obeys every rule on its path and, for a command addressing
    a whole channel (an all-bank MAC), the rules of every node below it."""
    sc = scope[cmd]
    t = -1
    for lvl in range(level_off.shape[0]):
        if lvl <= sc:
            first, last = path[lvl], path[lvl] + 1
        else:
            first, last = _descendants(path[sc], sc, lvl, level_size)
        for node in range(first, last):
            t = max(t, ready[level_off[lvl] + node, cmd])
    return t
