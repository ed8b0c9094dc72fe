"""Numba kernel of a per-bank-queue DRAM controller (the structure DRAMsim3 uses), as a named
alternative to the FR-FCFS controller of ``kernels.py`` (``controller.scheduler: per_bank``).

Per channel: a transaction queue for reads and a write buffer; per bank a command queue of a
few entries. Every cycle a channel (1) queues an all-bank refresh every nREFI, and while one
is waiting closes the open banks one PRE at a time and then issues REFab, touching no bank
queue meanwhile; otherwise (2) visits the bank queues round-robin, starting after the one that
issued last, and issues the first command that is legal in the first queue that has one; in a
queue, entries are tried oldest first: a row hit issues out of order, an ACT when the bank is
closed, and a PRE only for the oldest entry and only when no queued entry hits the open row
(unless that row already served 4 hits); then (3) moves at most one transaction into its bank's
queue: the first, in arrival order, whose bank queue has room - reads normally, writes while
the write buffer drains (it starts draining when full, or when every bank queue is empty and it
holds more than ``write_drain_threshold``; draining stops when a write would pass a read to
its address).
With ``dual_issue`` (HBM: separate row and column command buses) the channel then asks its
queues once more in the same cycle, the round-robin moving on, and issues that command too when
it is of the other kind (a column command after a row command, or the reverse), as DRAMsim3's
enable_hbm_dual_cmd does.
Reads to an address that is still pending merge; a read to a pending write's address returns
the next cycle. A read's data returns ``read_latency`` cycles after its RD; writes are posted.
Timing rules are the standard's compiled tables, as in ``kernels.py``. The frontend offers the
trace in order, one request per cycle, after the memory system's tick.
"""
from collections import namedtuple

import numpy as np
from numba import njit

from accsim.arch.dram.kernels import (ACT, C_CMD0, C_CYCLES, C_EVENTS, C_FORWARDED, C_READS, C_ROW_HIT, C_ROW_MISS, C_T_ACCEPT, C_T_RD_DONE,
                                     C_T_WR_DONE, C_WRITES, FAR, PRE, RD, REFAB, S_CLK, S_LAST_DEPART, S_LOG,
                                     S_SENT, S_SERVED, WR, _record_command, bank_closed, bank_opened, close_active_intervals,
                                     log_command, timing_state, trace_outputs)

ROW_HIT_LIMIT = 4      # open-row hits after which a waiting PRE may close the row anyway
PerBankState = namedtuple("PerBankState", (
    "level_off", "level_count", "ready", "hist", "head", "bank_rows", "open_row", "open_banks", "open_since", "row_hits",
    "bank_from", "ch_from", "rq", "rq_len", "wb", "wb_len", "bq", "bq_len", "draining", "queue_idx",
    "ref_waiting", "counters", "log", "path", "scalars"))


@njit(cache=True)
def _ready_at(ready, bank_rows, bank, cmd):
    """Earliest legal cycle of ``cmd`` at a bank: the latest bound on its path's nodes (their
    rows of the ready table, ``bank_rows[bank]``)."""
    t = -1
    for lvl in range(bank_rows.shape[1]):
        v = ready[bank_rows[bank, lvl], cmd]
        if v > t:
            t = v
    return t


@njit(cache=True)
def _bank_rows(level_off, level_size, n_banks):
    """Per bank, the ready-table row of its node at every level (no division per lookup)."""
    n_levels = level_size.shape[0]
    rows = np.zeros((n_banks, n_levels), np.int64)
    for b in range(n_banks):
        node = b
        for lvl in range(n_levels - 1, -1, -1):
            rows[b, lvl] = level_off[lvl] + node
            node = node // level_size[lvl]
    return rows


@njit(cache=True)
def _bank_path(bank, level_size, path):
    node = bank
    for lvl in range(level_size.shape[0] - 1, -1, -1):
        path[lvl] = node
        node = node // level_size[lvl]


@njit(cache=True)
def per_bank_state(level_size, n_cmd, rule_win, trans_cap, bank_cap, max_log):
    """Everything the per-bank controller carries from one call to the next (a trace runs in
    chunks): timing state, banks, queues, counters, command log, scalars."""
    n_levels = level_size.shape[0]
    n_ch = level_size[0]
    level_off, level_count, ready, hist, head = timing_state(level_size, n_cmd, rule_win)
    n_banks = level_count[n_levels - 1]      # banks in the whole system
    bank_rows = _bank_rows(level_off, level_size, n_banks)
    open_row = np.full(n_banks, -1, np.int64)
    open_banks = np.zeros(n_ch, np.int64)      # rows open per channel, and since when one is
    open_since = np.zeros(n_ch, np.int64)
    row_hits = np.zeros(n_banks, np.int64)
    # per bank, a lower bound of the cycle from which one of its queued commands may issue,
    # known after a scan that issued nothing from it; -1 once the bank's queue, open row or
    # hit count changes. Timing state only ever moves bounds later, so the bound stays valid
    # while the bank itself is untouched, and a bank whose bound lies ahead needs no visit.
    bank_from = np.full(n_banks, -1, np.int64)
    ch_from = np.full(n_ch, -1, np.int64)    # the same for a whole channel: its banks' least
    rq = np.zeros((n_ch, trans_cap), np.int64)
    rq_len = np.zeros(n_ch, np.int64)
    wb = np.zeros((n_ch, trans_cap), np.int64)
    wb_len = np.zeros(n_ch, np.int64)
    bq = np.zeros((n_banks, bank_cap), np.int64)
    bq_len = np.zeros(n_banks, np.int64)
    draining = np.zeros(n_ch, np.int64)
    queue_idx = np.zeros(n_ch, np.int64)
    ref_waiting = np.zeros(n_ch, np.bool_)
    counters, log, path = trace_outputs(n_levels, n_cmd, max_log)
    scalars = np.zeros(8, np.int64)
    scalars[S_LAST_DEPART] = -1
    return PerBankState(level_off, level_count, ready, hist, head, bank_rows, open_row, open_banks, open_since,
                        row_hits, bank_from, ch_from, rq, rq_len, wb, wb_len, bq, bq_len, draining,
                        queue_idx, ref_waiting, counters, log, path, scalars)


@njit(cache=True, nogil=True)   # arrays only: a progress display may tick meanwhile
def simulate_trace_per_bank(state, req_node, req_row, req_col, req_write, req_addr, req_cycle, arrive,
                            depart, follower, stop_at, n_reads, level_size, read_latency, trans_cap,
                            bank_cap, drain_threshold, refresh_interval, rule_ptr, rule_next,
                            rule_lat, rule_win, scope, max_log, dual_issue):
    """Run a window of a trace from and into ``state`` (``per_bank_state``), as
    kernels.simulate_trace does; ``follower[r]`` links reads merged into a pending read."""
    (level_off, level_count, ready, hist, head, bank_rows, open_row, open_banks, open_since, row_hits,
     bank_from, ch_from, rq, rq_len, wb, wb_len, bq, bq_len, draining, queue_idx,
     ref_waiting, counters, log, path, scalars) = state
    n = req_row.shape[0]
    n_levels = level_size.shape[0]
    n_ch = level_size[0]
    n_banks = level_count[n_levels - 1]
    per_ch = n_banks // n_ch
    bank_of = req_node[:, n_levels - 1].copy()
    n_log, sent, clk = scalars[S_LOG], scalars[S_SENT], scalars[S_CLK]
    reads_done, last_depart = scalars[S_SERVED], scalars[S_LAST_DEPART]
    last_window = stop_at == n
    while sent < stop_at or (last_window and (reads_done < n_reads or _writes_can_drain(
            wb_len, bq_len, draining, drain_threshold))):
        # ---- memory system tick at cycle clk ----
        activity = False
        next_event = FAR        # earliest cycle at which a command held back by timing is legal
        refresh_due = refresh_interval > 0 and clk > 0 and clk % refresh_interval == 0
        for c in range(n_ch):
            first_bank = c * per_ch
            if refresh_due:
                ref_waiting[c] = True
            # one command, or with dual issue a second of the other kind (row / column) in the
            # same cycle: DRAMsim3 asks its queues once more, the round-robin moving on (two
            # column commands are never both legal in one cycle: the data bus spaces them)
            first = -1
            attempts = 2 if dual_issue else 1
            if clk < ch_from[c] and not ref_waiting[c]:
                # no bank of the channel can issue before then: the round-robin would go full circle
                next_event = min(next_event, ch_from[c])
                attempts = 0
            for attempt in range(attempts):
                cmd, bank, pos = -1, -1, -1
                if ref_waiting[c]:
                    if attempt:             # a pending refresh keeps the bank queues closed
                        break
                    n_closed_ready = 0
                    for b in range(first_bank, first_bank + per_ch):
                        need = PRE if open_row[b] >= 0 else REFAB
                        t = _ready_at(ready, bank_rows, b, need)
                        if clk < t:
                            next_event = min(next_event, t)
                        elif need == PRE:
                            cmd, bank = PRE, b
                            break
                        else:
                            n_closed_ready += 1
                    if cmd < 0 and n_closed_ready == per_ch:
                        cmd, bank = REFAB, first_bank
                else:
                    least = FAR
                    for i in range(per_ch):
                        queue_idx[c] += 1       # round-robin (no modulo: this runs per bank per cycle)
                        if queue_idx[c] == per_ch:
                            queue_idx[c] = 0
                        b = first_bank + queue_idx[c]
                        if clk < bank_from[b]:
                            least = min(least, bank_from[b])
                            continue
                        bank_next = FAR
                        for k in range(bq_len[b]):
                            r = bq[b, k]
                            if open_row[b] < 0:
                                need = ACT
                            elif open_row[b] == req_row[r]:
                                need = WR if req_write[r] else RD
                            else:
                                need = PRE
                            t = _ready_at(ready, bank_rows, b, need)
                            if clk < t:
                                bank_next = min(bank_next, t)
                                continue
                            if need == PRE:
                                if k > 0:
                                    continue
                                hit_waits = False
                                for j in range(k + 1, bq_len[b]):
                                    if req_row[bq[b, j]] == open_row[b]:
                                        hit_waits = True
                                        break
                                if hit_waits and row_hits[b] < ROW_HIT_LIMIT:
                                    continue
                            elif need == WR:
                                blocked = False
                                for j in range(k):
                                    o = bq[b, j]
                                    if not req_write[o] and req_row[o] == req_row[r] and req_col[o] == req_col[r]:
                                        blocked = True
                                        break
                                if blocked:
                                    continue
                            cmd, bank, pos = need, b, k
                            break
                        least = min(least, bank_next)
                        if cmd >= 0:
                            break
                        bank_from[b] = bank_next
                    next_event = min(next_event, least)
                    if cmd < 0 and attempt == 0:
                        ch_from[c] = least
                if cmd < 0 or (attempt and (cmd == RD or cmd == WR) == (first == RD or first == WR)):
                    break
                first = cmd
                activity = True
                # issue
                if cmd == REFAB:
                    # the channel's refresh: down to the standard's refresh scope (a
                    # pseudochannel when it is the channel's only one), every node below it
                    path[0] = c
                    for lvl in range(1, n_levels):
                        path[lvl] = path[lvl - 1] * level_size[lvl] if lvl <= scope[cmd] else -1
                    ref_waiting[c] = False
                else:
                    _bank_path(bank, level_size, path)
                bank_from[bank] = -1
                ch_from[c] = -1
                _record_command(ready, hist, head, level_off, level_size, path, cmd, clk, scope,
                                rule_ptr, rule_next, rule_lat, rule_win)
                counters[C_CMD0 + cmd] += 1
                n_log = log_command(log, n_log, counters, clk, cmd, path, n_levels,
                                    req_row[bq[bank, pos]] if pos >= 0 else
                                    (open_row[bank] if cmd == PRE else -1),
                                    req_col[bq[bank, pos]] if (cmd == RD or cmd == WR) else -1)
                if cmd == ACT:
                    bank_opened(open_banks, open_since, c, clk)
                    open_row[bank] = req_row[bq[bank, pos]]
                    row_hits[bank] = 0
                elif cmd == PRE:
                    bank_closed(open_banks, open_since, counters, c, clk)
                    open_row[bank] = -1
                    row_hits[bank] = 0
                elif cmd == RD or cmd == WR:
                    if row_hits[bank] != 0:
                        counters[C_ROW_HIT] += 1
                    else:
                        counters[C_ROW_MISS] += 1
                    row_hits[bank] += 1
                    r = bq[bank, pos]
                    for j in range(pos, bq_len[bank] - 1):
                        bq[bank, j] = bq[bank, j + 1]
                    bq_len[bank] -= 1
                    if cmd == RD:
                        while r >= 0:
                            depart[r] = clk + read_latency
                            last_depart = max(last_depart, depart[r])
                            reads_done += 1
                            counters[C_READS] += 1
                            r = follower[r]
                    else:
                        counters[C_WRITES] += 1
                        counters[C_T_WR_DONE] = clk
            # ---- move one transaction into its bank queue ----
            if draining[c] == 0 and (wb_len[c] >= trans_cap or (
                    wb_len[c] > drain_threshold and _bank_queues_empty(bq_len, first_bank, per_ch))):
                draining[c] = wb_len[c]
            writes = draining[c] > 0
            qlen = wb_len[c] if writes else rq_len[c]
            for i in range(qlen):
                r = wb[c, i] if writes else rq[c, i]
                b = bank_of[r]
                if bq_len[b] >= bank_cap:
                    continue
                if writes:
                    if _read_pending(req_addr, req_write, rq, rq_len, bq, bq_len, c, b, req_addr[r]):
                        draining[c] = 0
                        break
                    draining[c] -= 1
                bq[b, bq_len[b]] = r
                bq_len[b] += 1
                bank_from[b] = -1
                ch_from[c] = -1
                activity = True
                if writes:
                    for j in range(i, wb_len[c] - 1):
                        wb[c, j] = wb[c, j + 1]
                    wb_len[c] -= 1
                else:
                    for j in range(i, rq_len[c] - 1):
                        rq[c, j] = rq[c, j + 1]
                    rq_len[c] -= 1
                break
        clk += 1
        counters[C_EVENTS] += 1
        # ---- frontend: offer the next request after the tick (once its arrival cycle has come:
        # it arrives in cycle clk - 1) ----
        if sent < n and req_cycle[sent] <= clk - 1:
            r = sent
            c = req_node[r, 0]
            b = bank_of[r]
            addr = req_addr[r]
            accepted = False
            if req_write[r]:
                if wb_len[c] < trans_cap:
                    accepted = True
                    if not _write_pending(req_addr, req_write, wb, wb_len, bq, bq_len, c, b, addr):
                        wb[c, wb_len[c]] = r
                        wb_len[c] += 1
                    else:
                        counters[C_WRITES] += 1        # merged into the pending write
            elif rq_len[c] < trans_cap:
                accepted = True
                if _write_pending(req_addr, req_write, wb, wb_len, bq, bq_len, c, b, addr):
                    depart[r] = clk
                    last_depart = max(last_depart, depart[r])
                    reads_done += 1
                    counters[C_FORWARDED] += 1
                else:
                    leader = _pending_read(req_addr, req_write, rq, rq_len, bq, bq_len, c, b, addr)
                    if leader >= 0:
                        while follower[leader] >= 0:
                            leader = follower[leader]
                        follower[leader] = r
                    else:
                        rq[c, rq_len[c]] = r
                        rq_len[c] += 1
            if accepted:
                activity = True
                # offered after tick clk - 1 and before tick clk: it arrives in cycle clk - 1,
                # the convention of kernels.simulate_trace (and of the peers' latency figures)
                arrive[r] = clk - 1
                sent += 1
                if sent == n:
                    counters[C_T_ACCEPT] = clk
        if not activity:
            # nothing changed this cycle: nothing will until a held-back command becomes legal
            # or a refresh falls due (the frontend and the transaction move wait on the queues)
            if refresh_interval > 0:
                next_event = min(next_event, (clk // refresh_interval + 1) * refresh_interval
                                 if clk % refresh_interval else clk)
            if sent < n and req_cycle[sent] > clk - 1:
                next_event = min(next_event, req_cycle[sent])     # tick there, then offer
                if max_log == 0 and refresh_interval > 0 and _idle(rq_len, wb_len, bq_len, ref_waiting,
                                                                   open_banks, draining):
                    # an idle gap: the refreshes of closed banks with nothing queued repeat
                    # exactly; count them and go past all but the last two before the arrival
                    last = req_cycle[sent] // refresh_interval - 2
                    if last > clk // refresh_interval:
                        counters[C_CMD0 + REFAB] += (last - clk // refresh_interval) * n_ch
                        clk = last * refresh_interval + 1
                        next_event = min((last + 1) * refresh_interval, req_cycle[sent])
            if next_event >= FAR:
                raise RuntimeError("per-bank DRAM controller deadlock: nothing can issue")
            clk = max(clk, next_event)
    scalars[S_LOG], scalars[S_SENT], scalars[S_CLK] = n_log, sent, clk
    scalars[S_SERVED], scalars[S_LAST_DEPART] = reads_done, last_depart
    if last_window:
        counters[C_T_RD_DONE] = last_depart
        counters[C_CYCLES] = clk
        close_active_intervals(open_banks, open_since, counters, clk)


@njit(cache=True)
def _idle(rq_len, wb_len, bq_len, ref_waiting, open_banks, draining):
    """Nothing queued anywhere, no refresh pending, every bank closed, no write drain."""
    return not (rq_len.sum() or wb_len.sum() or bq_len.sum() or ref_waiting.any() or open_banks.sum()
                or draining.sum())


@njit(cache=True)
def _bank_queues_empty(bq_len, first_bank, per_ch):
    for b in range(first_bank, first_bank + per_ch):
        if bq_len[b] > 0:
            return False
    return True


@njit(cache=True)
def _writes_can_drain(wb_len, bq_len, draining, drain_threshold):
    """Once every read has returned, the run continues while queued commands remain or the
    write buffer will still drain; up to ``drain_threshold`` writes stay buffered (posted
    writes the controller never needs to issue)."""
    for b in range(bq_len.shape[0]):
        if bq_len[b] > 0:
            return True
    for c in range(wb_len.shape[0]):
        if draining[c] > 0 or wb_len[c] > drain_threshold:
            return True
    return False


@njit(cache=True)
def _pending_read(req_addr, req_write, rq, rq_len, bq, bq_len, c, b, addr):
    """A not-yet-issued read to ``addr`` (in the transaction queue or its bank queue), or -1."""
    for i in range(rq_len[c]):
        if req_addr[rq[c, i]] == addr:
            return rq[c, i]
    for i in range(bq_len[b]):
        r = bq[b, i]
        if not req_write[r] and req_addr[r] == addr:
            return r
    return -1


@njit(cache=True)
def _read_pending(req_addr, req_write, rq, rq_len, bq, bq_len, c, b, addr):
    return _pending_read(req_addr, req_write, rq, rq_len, bq, bq_len, c, b, addr) >= 0


@njit(cache=True)
def _write_pending(req_addr, req_write, wb, wb_len, bq, bq_len, c, b, addr):
    """Is a write to ``addr`` still waiting (write buffer or its bank queue)?"""
    for i in range(wb_len[c]):
        if req_addr[wb[c, i]] == addr:
            return True
    for i in range(bq_len[b]):
        r = bq[b, i]
        if req_write[r] and req_addr[r] == addr:
            return True
    return False
