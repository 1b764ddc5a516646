/**
 * What processes cost, from Linux's /proc: resident memory and CPU time of one process, and how
 * busy the whole machine was. Elsewhere every figure is null (the benchmark still runs).
 */
import { readFileSync } from "node:fs";

function read(path: string): string | null {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return null;
  }
}

const TICKS_PER_SECOND = 100; // USER_HZ: 100 on every Linux this runs on

/** Resident memory of `pid` now and at its peak, in MiB. */
export function memoryOf(pid: number): { rss_mib: number | null; peak_rss_mib: number | null } {
  const status = read(`/proc/${pid}/status`);
  const kib = (field: string) => {
    const match = status?.match(new RegExp(`^${field}:\\s+(\\d+) kB`, "m"));
    return match ? Number(match[1]) / 1024 : null;
  };
  return { rss_mib: kib("VmRSS"), peak_rss_mib: kib("VmHWM") };
}

/** CPU time `pid` used so far in user and system (kernel) mode, in ms. */
export function cpuTimeOf(pid: number): { user: number; system: number } | null {
  const stat = read(`/proc/${pid}/stat`);
  if (!stat) return null;
  // Fields after the command (which may hold spaces): state is field 3, utime 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return {
    user: (Number(fields[11]) * 1000) / TICKS_PER_SECOND,
    system: (Number(fields[12]) * 1000) / TICKS_PER_SECOND,
  };
}

/** The machine's CPU counters (all cores): busy and total ticks. */
export function machineTicks(): { busy: number; total: number } | null {
  const line = read("/proc/stat")?.split("\n")[0];
  if (!line?.startsWith("cpu ")) return null;
  const ticks = line.trim().split(/\s+/).slice(1).map(Number);
  const total = ticks.reduce((sum, value) => sum + value, 0);
  const idle = (ticks[3] ?? 0) + (ticks[4] ?? 0); // idle + iowait
  return { busy: total - idle, total };
}

/** CPU use of some processes and of the whole machine over an interval, started by `start()`. */
export function cpuMeter(pids: Record<string, number>) {
  const wallStart = performance.now();
  const machineStart = machineTicks();
  const starts = Object.fromEntries(
    Object.entries(pids).map(([name, pid]) => [name, cpuTimeOf(pid)]),
  );
  return {
    /**
     * Percent of one core per process (user + system, and the system part alone), and the
     * machine's busy percent of all its cores.
     */
    stop(): {
      processes: Record<string, number | null>;
      system: Record<string, number | null>;
      machine_busy_pct: number | null;
    } {
      const wall = performance.now() - wallStart;
      const processes: Record<string, number | null> = {};
      const system: Record<string, number | null> = {};
      for (const [name, pid] of Object.entries(pids)) {
        const start = starts[name];
        const end = cpuTimeOf(pid);
        const ok = start != null && end != null;
        processes[name] = ok
          ? ((end.user + end.system - start.user - start.system) / wall) * 100
          : null;
        system[name] = ok ? ((end.system - start.system) / wall) * 100 : null;
      }
      const machineEnd = machineTicks();
      const machine_busy_pct =
        machineStart && machineEnd && machineEnd.total > machineStart.total
          ? ((machineEnd.busy - machineStart.busy) / (machineEnd.total - machineStart.total)) * 100
          : null;
      return { processes, system, machine_busy_pct };
    },
  };
}
