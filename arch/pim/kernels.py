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
refresh falls due, which gives the same result as stepping every cycle.
"""
import numpy as np
from numba import njit

# commands (same order as standards.COMMANDS)
ACT, PRE, PREA, RD, WR, RDA, WRA, REFAB = 0, 1, 2, 3, 4, 5, 6, 7
N_CMD = 11
# queues
QREAD, QWRITE, QACTIVE = 0, 1, 2
# counters
C_ROW_HIT, C_ROW_MISS, C_ROW_CONFLICT, C_READS, C_WRITES, C_FORWARDED = 0, 1, 2, 3, 4, 5
C_T_ACCEPT, C_T_RD_DONE, C_LAT_SUM, C_LAT_MAX, C_CYCLES, C_LOG_DROPPED, C_EVENTS = 6, 7, 8, 9, 10, 11, 12
C_CMD0 = 16                      # counters[C_CMD0 + cmd] = commands issued
N_COUNTERS = C_CMD0 + N_CMD


@njit(cache=True)
def _ready_time(ready, level_off, req_node, r, cmd, scope):
    """Cycle from which ``cmd`` for request ``r`` satisfies every rule on its path (-1: always)."""
    t = -1
    for lvl in range(scope[cmd] + 1):
        v = ready[level_off[lvl] + req_node[r, lvl], cmd]
        if v > t:
            t = v
    return t


@njit(cache=True)
def _scope_ready_time(ready, level_off, path, cmd, scope):
    t = -1
    for lvl in range(scope[cmd] + 1):
        v = ready[level_off[lvl] + path[lvl], cmd]
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
    n_levels = level_off.shape[0]
    s = scope[cmd]
    for lvl in range(n_levels):
        key = lvl * N_CMD + cmd
        if lvl <= s:
            _update_node(ready, hist, level_off[lvl] + path[lvl], cmd, clk, rule_ptr, rule_next,
                         rule_lat, rule_win, key)
        else:
            per_scope_node = 1
            for j in range(s + 1, lvl + 1):
                per_scope_node *= level_size[j]
            first = path[s] * per_scope_node
            for node in range(first, first + per_scope_node):
                _update_node(ready, hist, level_off[lvl] + node, cmd, clk, rule_ptr, rule_next,
                             rule_lat, rule_win, key)


@njit(cache=True)
def _banks_of(path_node, scope_level, level_size):
    """Range of bank indices under ``path_node`` at ``scope_level``."""
    n_levels = level_size.shape[0]
    per = 1
    for j in range(scope_level + 1, n_levels):
        per *= level_size[j]
    return path_node * per, path_node * per + per


@njit(cache=True)
def _preq(r, req_bank, req_row, req_final, open_row):
    """The next command request ``r`` needs: ACT (bank closed), PRE (other row open) or its final."""
    row = open_row[req_bank[r]]
    if row < 0:
        return ACT
    if row == req_row[r]:
        return req_final[r]
    return PRE


@njit(cache=True)
def _refresh_slot(slot_cmd, slot_t, queue, c, q, slot, ready, level_off, req_node, req_bank,
                  req_row, req_final, open_row, scope):
    """Cache the next command of the request in a queue slot and the cycle it becomes legal."""
    r = queue[c, q, slot]
    cmd = _preq(r, req_bank, req_row, req_final, open_row)
    slot_cmd[c, q, slot] = cmd
    slot_t[c, q, slot] = _ready_time(ready, level_off, req_node, r, cmd, scope)


@njit(cache=True)
def _best(queue, qlen, slot_cmd, slot_t, c, q, clk, req_arrive):
    """FR-FCFS over one queue: (slot, command, ready now?, earliest future ready time).

    Uses the cached per-slot commands and ready times, which stay exact until a command is
    issued in this channel (the only thing that changes bank state or timing here).
    """
    best_slot, best_cmd, best_ready, best_arrive = -1, -1, False, 0
    next_time = np.int64(1) << 62
    for slot in range(qlen[c, q]):
        r = queue[c, q, slot]
        cmd = slot_cmd[c, q, slot]
        t = slot_t[c, q, slot]
        ok = t <= clk
        if not ok and t < next_time:
            next_time = t
        if best_slot < 0 or (ok and not best_ready) or (ok == best_ready and req_arrive[r] < best_arrive):
            best_slot, best_cmd, best_ready, best_arrive = slot, cmd, ok, req_arrive[r]
    return best_slot, best_cmd, best_ready, next_time


@njit(cache=True)
def _remove(queue, slot_cmd, slot_t, qlen, c, q, slot):
    for i in range(slot, qlen[c, q] - 1):
        queue[c, q, i] = queue[c, q, i + 1]
        slot_cmd[c, q, i] = slot_cmd[c, q, i + 1]
        slot_t[c, q, i] = slot_t[c, q, i + 1]
    qlen[c, q] -= 1


@njit(cache=True)
def _append(queue, slot_cmd, slot_t, qlen, c, q, r, dirty, min_t, ready, level_off, req_node,
            req_bank, req_row, req_final, open_row, scope):
    slot = qlen[c, q]
    queue[c, q, slot] = r
    qlen[c, q] += 1
    if not dirty[c]:
        _refresh_slot(slot_cmd, slot_t, queue, c, q, slot, ready, level_off, req_node, req_bank,
                      req_row, req_final, open_row, scope)
        if slot_t[c, q, slot] < min_t[c]:
            min_t[c] = slot_t[c, q, slot]


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
    total = 0
    count = 1
    for lvl in range(n_levels):
        count *= level_size[lvl]
        level_count[lvl] = count
        level_off[lvl] = total
        total += count
    ready = np.full((total, N_CMD), -1, np.int64)
    hist = np.full((total, N_CMD, 4), -1, np.int64)
    open_row = np.full(level_count[bank_level], -1, np.int64)
    req_bank = req_node[:, bank_level].copy()
    req_final = np.empty(n, np.int64)
    for r in range(n):
        if req_write[r]:
            req_final[r] = WRA if closed_row else WR
        else:
            req_final[r] = RDA if closed_row else RD
    cap = max(read_cap, write_cap) + 1
    queue = np.zeros((n_ch, 3, 2 * cap + 4), np.int64)
    slot_cmd = np.zeros((n_ch, 3, 2 * cap + 4), np.int64)
    slot_t = np.zeros((n_ch, 3, 2 * cap + 4), np.int64)
    qlen = np.zeros((n_ch, 3), np.int64)
    dirty = np.zeros(n_ch, np.bool_)   # a command issued since the slot caches were filled
    min_t = np.zeros(n_ch, np.int64)   # lower bound of the cached ready times of a channel
    pend_cap = 4096
    pend = np.zeros((n_ch, pend_cap), np.int64)
    pend_head = np.zeros(n_ch, np.int64)
    pend_len = np.zeros(n_ch, np.int64)
    write_mode = np.zeros(n_ch, np.bool_)
    ref_per_ch = level_count[refresh_level] // n_ch
    prio = np.zeros((n_ch, 4 * ref_per_ch + 4), np.int64)
    prio_len = np.zeros(n_ch, np.int64)
    next_ref = np.full(n_ch, refresh_interval if refresh_interval > 0 else np.int64(1) << 62, np.int64)
    arrive = np.full(n, -1, np.int64)
    depart = np.full(n, -1, np.int64)
    stat_done = np.zeros(n, np.bool_)
    counters = np.zeros(N_COUNTERS, np.int64)
    log = np.zeros((max_log, n_levels + 4), np.int64)
    n_log = 0
    path = np.zeros(n_levels, np.int64)
    n_reads = 0
    for r in range(n):
        if not req_write[r]:
            n_reads += 1
    served = 0
    sent = 0
    clk = 0
    far = np.int64(1) << 62
    while sent < n or served < n_reads:
        activity = False
        # ---- frontend: offer the next request (before the memory system ticks) ----
        if sent < n:
            r = sent
            c = req_node[r, 0]
            accepted = False
            if not req_write[r]:
                for s in range(qlen[c, QWRITE]):
                    if req_addr[queue[c, QWRITE, s]] == req_addr[r]:
                        arrive[r] = clk
                        depart[r] = clk + 1
                        pend[c, (pend_head[c] + pend_len[c]) % pend_cap] = r
                        pend_len[c] += 1
                        counters[C_FORWARDED] += 1
                        accepted = True
                        break
                if not accepted and qlen[c, QREAD] < read_cap:
                    _append(queue, slot_cmd, slot_t, qlen, c, QREAD, r, dirty, min_t, ready, level_off,
                            req_node, req_bank, req_row, req_final, open_row, scope)
                    arrive[r] = clk
                    accepted = True
            elif qlen[c, QWRITE] < write_cap:
                _append(queue, slot_cmd, slot_t, qlen, c, QWRITE, r, dirty, min_t, ready, level_off,
                        req_node, req_bank, req_row, req_final, open_row, scope)
                arrive[r] = clk
                accepted = True
            if accepted:
                sent += 1
                activity = True
                if sent == n:
                    counters[C_T_ACCEPT] = clk
        # ---- memory system tick ----
        clk += 1
        next_event = far
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
                        if latency > counters[C_LAT_MAX]:
                            counters[C_LAT_MAX] = latency
                    # cycles are counted as the peers' drivers count them: tick k of the memory
                    # system is cycle k - 1 (the frontend offers at cycle k - 1, then tick k runs)
                    counters[C_T_RD_DONE] = clk - 1
                elif depart[r] < next_event:
                    next_event = depart[r]
            # (2) refresh falls due
            if clk == next_ref[c]:
                first = c * ref_per_ch
                for k in range(ref_per_ch):
                    prio[c, prio_len[c]] = first + k
                    prio_len[c] += 1
                next_ref[c] += refresh_interval
                activity = True
            if next_ref[c] < next_event:
                next_event = next_ref[c]
            # (3) pick a request
            if dirty[c]:
                min_t[c] = far
                for qq in range(3):
                    for sl in range(qlen[c, qq]):
                        _refresh_slot(slot_cmd, slot_t, queue, c, qq, sl, ready, level_off,
                                      req_node, req_bank, req_row, req_final, open_row, scope)
                        if slot_t[c, qq, sl] < min_t[c]:
                            min_t[c] = slot_t[c, qq, sl]
                dirty[c] = False
            if prio_len[c] == 0 and clk < min_t[c]:
                # no queued command is legal yet: only the write-drain mode can change now
                if not write_mode[c]:
                    if qlen[c, QWRITE] >= wr_high or qlen[c, QREAD] == 0:
                        write_mode[c] = True
                elif qlen[c, QWRITE] < wr_low and qlen[c, QREAD] != 0:
                    write_mode[c] = False
                if min_t[c] < next_event:
                    next_event = min_t[c]
                continue
            found = False
            q = -1
            slot = -1
            cmd = -1
            r = -1
            if qlen[c, QACTIVE] > 0:
                slot, cmd, ok, t = _best(queue, qlen, slot_cmd, slot_t, c, QACTIVE, clk, arrive)
                if t < next_event:
                    next_event = t
                if ok:
                    found = True
                    q = QACTIVE
                    r = queue[c, QACTIVE, slot]
            stalled = False
            if not found and prio_len[c] > 0:
                ref_node = prio[c, 0]
                lo, hi = _banks_of(ref_node, refresh_level, level_size)
                cmd = REFAB
                for b in range(lo, hi):
                    if open_row[b] >= 0:
                        cmd = PREA
                        break
                # the path of a refresh: its scope node and the ancestors above it
                node = ref_node
                for lvl in range(refresh_level, -1, -1):
                    path[lvl] = node
                    if lvl > 0:
                        node = node // level_size[lvl]
                t = _scope_ready_time(ready, level_off, path, cmd, scope)
                if t <= clk:
                    found = True
                    q = 3
                else:
                    stalled = True
                    if t < next_event:
                        next_event = t
            if not found and not stalled:
                if not write_mode[c]:
                    if qlen[c, QWRITE] >= wr_high or qlen[c, QREAD] == 0:
                        write_mode[c] = True
                else:
                    if qlen[c, QWRITE] < wr_low and qlen[c, QREAD] != 0:
                        write_mode[c] = False
                q = QWRITE if write_mode[c] else QREAD
                if qlen[c, q] > 0:
                    slot, cmd, ok, t = _best(queue, qlen, slot_cmd, slot_t, c, q, clk, arrive)
                    if t < next_event:
                        next_event = t
                    if ok:
                        found = True
                        r = queue[c, q, slot]
            # a closing command must not close a row an activated request is waiting for
            if found and (cmd == PRE or cmd == PREA or cmd == RDA or cmd == WRA):
                s_lvl = scope[cmd]
                for a in range(qlen[c, QACTIVE]):
                    other = queue[c, QACTIVE, a]
                    match = True
                    for lvl in range(bank_level + 1):
                        if lvl > s_lvl:
                            break
                        mine = path[lvl] if q == 3 else req_node[r, lvl]
                        if req_node[other, lvl] != mine:
                            match = False
                            break
                    if match:
                        found = False
                        break
            if not found:
                continue
            # (4) issue
            activity = True
            dirty[c] = True
            if q == 3:
                p = path
            else:
                for lvl in range(n_levels):
                    path[lvl] = req_node[r, lvl]
                p = path
                if not stat_done[r]:
                    stat_done[r] = True
                    row = open_row[req_bank[r]]
                    if row == req_row[r]:
                        counters[C_ROW_HIT] += 1
                    elif row >= 0:
                        counters[C_ROW_CONFLICT] += 1
                    else:
                        counters[C_ROW_MISS] += 1
            _issue_timing(ready, hist, level_off, level_size, p, cmd, clk, scope, rule_ptr,
                          rule_next, rule_lat, rule_win)
            counters[C_CMD0 + cmd] += 1
            if n_log < max_log:
                log[n_log, 0] = clk
                log[n_log, 1] = cmd
                for lvl in range(n_levels):
                    log[n_log, 2 + lvl] = p[lvl] if (q != 3 or lvl <= refresh_level) else -1
                log[n_log, 2 + n_levels] = req_row[r] if q != 3 else -1
                log[n_log, 3 + n_levels] = req_col[r] if q != 3 else -1
                n_log += 1
            else:
                counters[C_LOG_DROPPED] += 1
            # state
            if cmd == ACT:
                open_row[req_bank[r]] = req_row[r]
            elif cmd == PRE or cmd == RDA or cmd == WRA:
                open_row[req_bank[r]] = -1
            elif cmd == PREA:
                lo, hi = _banks_of(p[scope[PREA]], scope[PREA], level_size)
                for b in range(lo, hi):
                    open_row[b] = -1
            if q == 3:
                if cmd == REFAB:
                    for k in range(prio_len[c] - 1):
                        prio[c, k] = prio[c, k + 1]
                    prio_len[c] -= 1
            elif cmd == req_final[r]:
                if req_write[r]:
                    counters[C_WRITES] += 1
                else:
                    counters[C_READS] += 1
                    depart[r] = clk + read_latency
                    pend[c, (pend_head[c] + pend_len[c]) % pend_cap] = r
                    pend_len[c] += 1
                _remove(queue, slot_cmd, slot_t, qlen, c, q, slot)
            elif cmd == ACT:
                queue[c, QACTIVE, qlen[c, QACTIVE]] = r
                qlen[c, QACTIVE] += 1
                _remove(queue, slot_cmd, slot_t, qlen, c, q, slot)
        counters[C_EVENTS] += 1
        # ---- nothing happened anywhere: jump to the cycle before the next event ----
        if not activity:
            if next_event >= far:
                raise RuntimeError("DRAM controller deadlock: requests queued but no event ahead")
            if next_event > clk + 1:
                clk = next_event - 1
    counters[C_CYCLES] = clk
    return counters, arrive, depart, log[:n_log]
