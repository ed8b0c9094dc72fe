"""Numba kernels of the PIM command streams: every channel's AiM command stream issued in
order under the standard's timing rules (on the shared DRAM timing state of
``arch/dram/kernels``), barriers joining the channels for ASIC work, and the critical-path
breakdown of a pass.
"""
import numpy as np
from numba import njit

from accsim.arch.dram.kernels import (ACT, FAR, PRE, PREA, RDA, REFAB, WRA, _descendants, _record_on_node,
                                      rule_targets, timing_state)
from accsim.arch.pim.standards import CMD

ACTAB = CMD["ACTab"]     # the AiM command set's all-bank activate (re-opens rows after refresh)
BARRIER = 100        # not a DRAM command: wait until every channel reaches barrier ``arg``
S_ISSUE, S_CHANNEL_END, S_REFRESHES, S_BARRIER_WAIT = 0, 1, 2, 3


@njit(cache=True, nogil=True)
def simulate_streams(stream_ptr, s_cmd, s_bank, s_row, s_arg, s_count, barrier_latency, level_size,
                     refresh_interval, rule_ptr, rule_next, rule_lat, rule_win, scope, max_log):
    """Issue every channel's command stream in order, each command at the first cycle at which
    the command bus is free and every timing rule allows it.

    A stream entry is (command, channel-local bank or -1 for the whole channel, row, arg,
    count): ``count`` identical commands back to back (a run of MACs reading one row).
    BARRIER entries join the channels: each waits until all have reached barrier ``arg``, and
    resumes ``barrier_latency[arg]`` cycles after the last arrival (work such as an ASIC
    reduction in between). With refresh on, a due refresh is served at the next command
    boundary, inside a run too: PREA if rows are open, REFab, then the open rows are activated
    again. Returns (issue cycle of each entry's first and of its last command, per-channel
    stats, barrier release cycles, command log).
    """
    n_ch = level_size[0]
    n_levels = level_size.shape[0]
    level_off, level_count, ready, hist, head = timing_state(level_size, scope.shape[0], rule_win)
    count = level_count[n_levels - 1]
    banks_per_ch = count // n_ch
    targeted = rule_targets(rule_ptr, rule_next, n_levels)
    n_cmd = scope.shape[0]
    open_row = np.full(count, -1, np.int64)
    issue = np.full(s_cmd.shape[0], -1, np.int64)
    issue_last = np.full(s_cmd.shape[0], -1, np.int64)
    done = np.zeros(n_ch, np.int64)               # commands of the current entry issued
    stats = np.zeros((n_ch, 4), np.int64)
    n_barriers = barrier_latency.shape[0]
    arrivals = np.zeros(n_barriers, np.int64)
    barrier_at = np.zeros(n_barriers, np.int64)
    release = np.full(n_barriers, -1, np.int64)
    pos = stream_ptr[:-1].copy()
    last = np.full(n_ch, -1, np.int64)            # last command-bus cycle per channel
    waiting = np.full(n_ch, -1, np.int64)         # barrier a channel has arrived at
    next_ref = np.full(n_ch, refresh_interval if refresh_interval > 0 else FAR, np.int64)
    log = np.zeros((max_log, n_levels + 4), np.int64)
    n_log = 0
    path = np.zeros(n_levels, np.int64)
    inject = np.zeros((n_ch, banks_per_ch + 2, 3), np.int64)   # refresh commands to issue first
    inject_len = np.zeros(n_ch, np.int64)
    inject_pos = np.zeros(n_ch, np.int64)
    remaining = n_ch
    finished = np.zeros(n_ch, np.bool_)
    step = repeat_steps(rule_ptr, rule_next, rule_lat, rule_win, n_levels, n_cmd, max_log)
    while remaining > 0:
        progressed = False
        for c in range(n_ch):
            while pos[c] < stream_ptr[c + 1]:
                e = pos[c]
                cmd = s_cmd[e]
                if cmd == BARRIER:
                    b = s_arg[e]
                    if waiting[c] != b:
                        waiting[c] = b
                        arrivals[b] += 1
                        barrier_at[b] = max(barrier_at[b], last[c] + 1)
                        progressed = True
                    if arrivals[b] < n_ch:
                        break
                    release[b] = barrier_at[b] + barrier_latency[b]
                    stats[c, S_BARRIER_WAIT] += release[b] - (last[c] + 1)
                    last[c] = max(last[c], release[b] - 1)
                    issue[e] = release[b]
                    issue_last[e] = release[b]
                    waiting[c] = -1
                    pos[c] += 1
                    progressed = True
                    continue
                if inject_len[c] == 0 and last[c] + 1 >= next_ref[c]:
                    # refresh at a command boundary: queue PREA (if rows are open), REFab, and
                    # the activations that reopen what was open; they issue below like any command
                    first_bank = c * banks_per_ch
                    n_open = 0
                    same_row = True
                    for k in range(banks_per_ch):
                        if open_row[first_bank + k] >= 0:
                            n_open += 1
                            if open_row[first_bank + k] != open_row[first_bank]:
                                same_row = False
                    n_inj = 0
                    if n_open:
                        inject[c, n_inj, 0], inject[c, n_inj, 1], inject[c, n_inj, 2] = PREA, -1, -1
                        n_inj += 1
                    inject[c, n_inj, 0], inject[c, n_inj, 1], inject[c, n_inj, 2] = REFAB, -1, -1
                    n_inj += 1
                    if n_open == banks_per_ch and same_row:
                        inject[c, n_inj, 0], inject[c, n_inj, 1] = ACTAB, -1
                        inject[c, n_inj, 2] = open_row[first_bank]
                        n_inj += 1
                    else:
                        for k in range(banks_per_ch):
                            if open_row[first_bank + k] >= 0:
                                inject[c, n_inj, 0], inject[c, n_inj, 1] = ACT, k
                                inject[c, n_inj, 2] = open_row[first_bank + k]
                                n_inj += 1
                    inject_len[c], inject_pos[c] = n_inj, 0
                    stats[c, S_REFRESHES] += 1
                    next_ref[c] += refresh_interval
                injected = inject_pos[c] < inject_len[c]
                if injected:
                    k = inject_pos[c]
                    cmd, bank, row = inject[c, k, 0], inject[c, k, 1], inject[c, k, 2]
                else:
                    bank, row = s_bank[e], s_row[e]
                # the common path, written out: it runs per command (see the module note)
                path[0] = c
                if bank < 0:
                    for lvl in range(1, n_levels):
                        path[lvl] = -1
                else:
                    node = c * banks_per_ch + bank
                    for lvl in range(n_levels - 1, 0, -1):
                        path[lvl] = node
                        node = node // level_size[lvl]
                sc = scope[cmd]
                t = last[c] + 1
                for lvl in range(n_levels):
                    if not targeted[lvl, cmd]:
                        continue            # no rule ever bounds cmd on this level's nodes
                    if lvl <= sc:
                        first, stop = path[lvl], path[lvl] + 1
                    else:
                        first, stop = _descendants(path[sc], sc, lvl, level_size)
                    for node in range(first, stop):
                        g = level_off[lvl] + node
                        if ready[g, cmd] > t:
                            t = ready[g, cmd]
                for lvl in range(n_levels):
                    key = lvl * n_cmd + cmd
                    if rule_ptr[key] == rule_ptr[key + 1]:
                        continue            # no rule starts from cmd here: its history is never read
                    if lvl <= sc:
                        first, stop = path[lvl], path[lvl] + 1
                    else:
                        first, stop = _descendants(path[sc], sc, lvl, level_size)
                    for node in range(first, stop):
                        _record_on_node(ready, hist, head, level_off[lvl] + node, cmd, t, key,
                                        rule_ptr, rule_next, rule_lat, rule_win)
                if cmd == ACT or cmd == ACTAB or cmd == PRE or cmd == PREA or cmd == RDA or cmd == WRA:
                    value = row if (cmd == ACT or cmd == ACTAB) else -1
                    if sc < n_levels - 1:
                        first, stop = c * banks_per_ch, (c + 1) * banks_per_ch
                    else:
                        first, stop = path[n_levels - 1], path[n_levels - 1] + 1
                    for b in range(first, stop):
                        open_row[b] = value
                stats[c, S_ISSUE] += 1
                if n_log < max_log:
                    log[n_log, 0] = t
                    log[n_log, 1] = cmd
                    for lvl in range(n_levels):
                        log[n_log, 2 + lvl] = path[lvl]
                    log[n_log, 2 + n_levels] = row
                    log[n_log, 3 + n_levels] = -1
                    n_log += 1
                last[c] = t
                progressed = True
                if injected:
                    inject_pos[c] += 1
                    if inject_pos[c] == inject_len[c]:
                        inject_len[c] = 0
                else:
                    if done[c] == 0:
                        issue[e] = t
                    done[c] += 1
                    left = s_count[e] - done[c]
                    if left > 0 and step[cmd] > 0 and t + 1 < next_ref[c]:
                        # the rest of a run: each command follows the previous by the run's
                        # spacing (see repeat_steps) while no refresh falls due before it
                        m = min(left, (next_ref[c] - 2 - t) // step[cmd] + 1)
                        t += m * step[cmd]
                        done[c] += m
                        stats[c, S_ISSUE] += m
                        last[c] = t
                        _record_last(ready, hist, head, level_off, level_size, path, cmd, t, sc,
                                     rule_ptr, rule_next, rule_lat, rule_win, n_levels, n_cmd)
                    issue_last[e] = t
                    if done[c] == s_count[e]:
                        done[c] = 0
                        pos[c] += 1
            if pos[c] == stream_ptr[c + 1] and not finished[c]:
                finished[c] = True          # (an empty stream ends at cycle 0)
                stats[c, S_CHANNEL_END] = last[c] + 1
                remaining -= 1
        if remaining > 0 and not progressed:
            raise RuntimeError("PIM command streams deadlock: a barrier is not reached by every channel")
    return issue, issue_last, stats, release, log[:n_log]




@njit(cache=True)
def repeat_steps(rule_ptr, rule_next, rule_lat, rule_win, n_levels, n_cmd, max_log):
    """Per command, the spacing of a run of it on one bank and row (0: no shortcut; every
    command of the run takes the general path).

    After a command issues at t, the next identical command is bound only by the command bus
    (t + 1) and the rules from the command to itself (t + latency): every other bound was met
    by the first. So a run issues at a fixed step, and recording only its last command leaves
    the timing state as recording each would - provided no rule from it has a window (tFAW
    counts issues), the command changes no bank state, and no command log is kept (the log
    lists every command; with one, runs take the general path, which the tests compare)."""
    step = np.ones(n_cmd, np.int64)
    for cmd in (ACT, PRE, PREA, RDA, WRA, REFAB, ACTAB):
        step[cmd] = 0
    for lvl in range(n_levels):
        for cmd in range(n_cmd):
            key = lvl * n_cmd + cmd
            for k in range(rule_ptr[key], rule_ptr[key + 1]):
                if rule_win[k] > 1:
                    step[cmd] = 0
                elif rule_next[k] == cmd and step[cmd] > 0 and rule_lat[k] > step[cmd]:
                    step[cmd] = rule_lat[k]
    if max_log > 0:
        step[:] = 0
    return step


@njit(cache=True)
def _record_last(ready, hist, head, level_off, level_size, path, cmd, t, sc, rule_ptr, rule_next,
                 rule_lat, rule_win, n_levels, n_cmd):
    """Record the last command of a run at ``t``, as the general path records one command. The
    general path writes this loop out: calling here per command (inlined or not) measured 40 ->
    57-80 ms per GPT-3 XL pass, so the two stay separate."""
    for lvl in range(n_levels):
        key = lvl * n_cmd + cmd
        if rule_ptr[key] == rule_ptr[key + 1]:
            continue
        if lvl <= sc:
            first, stop = path[lvl], path[lvl] + 1
        else:
            first, stop = _descendants(path[sc], sc, lvl, level_size)
        for node in range(first, stop):
            _record_on_node(ready, hist, head, level_off[lvl] + node, cmd, t, key, rule_ptr, rule_next,
                            rule_lat, rule_win)


@njit(cache=True, nogil=True)
def critical_path_cycles(stream_ptr, s_cmd, s_count, issue_last, n_barriers, n_commands):
    """Cycles of the critical path per command kind, plus the barriers' (ASIC) cycles.

    Between two barriers the channel whose last command ended last sets the pace (the first
    such channel on ties); each gap between its consecutive commands counts against the
    command that ended it (a run's gaps, summed, are from the previous entry's end to its last
    command's). Returns (cycles per command kind, barrier cycles on the path, commands per
    command kind); the first two sum to the pass's latency.
    """
    n_ch = stream_ptr.shape[0] - 1
    n_seg = n_barriers + 1
    arrival = np.zeros((n_ch, n_seg), np.int64)
    for c in range(n_ch):
        seg = 0
        for e in range(stream_ptr[c], stream_ptr[c + 1]):
            if s_cmd[e] == BARRIER:
                seg += 1
            elif issue_last[e] + 1 > arrival[c, seg]:
                arrival[c, seg] = issue_last[e] + 1
    critical = np.zeros(n_seg, np.int64)
    for s in range(n_seg):
        for c in range(1, n_ch):
            if arrival[c, s] > arrival[critical[s], s]:
                critical[s] = c
    per_cmd = np.zeros(n_commands, np.int64)
    count = np.zeros(n_commands, np.int64)
    barrier_cycles = 0
    for c in range(n_ch):
        seg, prev_end = 0, 0
        for e in range(stream_ptr[c], stream_ptr[c + 1]):
            is_barrier = s_cmd[e] == BARRIER
            if not is_barrier:
                count[s_cmd[e]] += s_count[e]
            end = issue_last[e] if is_barrier else issue_last[e] + 1
            if critical[seg] == c:
                if is_barrier:
                    barrier_cycles += end - prev_end
                else:
                    per_cmd[s_cmd[e]] += end - prev_end
            if is_barrier:
                seg += 1
            prev_end = end
    return per_cmd, barrier_cycles, count
