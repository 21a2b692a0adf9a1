/**
 * Reads a process's memory and CPU time from /proc (Linux only), so benchmarks can report what a
 * broker used without instrumenting it.
 *
 * Deno allows reading /proc only with `--allow-all`, which `deno task bench` does not grant, so
 * the files are read by `cat` in a child process: this needs `--allow-run` instead.
 *
 * @module
 */

/** Clock ticks per second in /proc/<pid>/stat; 100 on every Linux this runs on. */
const TICKS_PER_SECOND = 100;
const decoder = new TextDecoder();

/** Error raised when a /proc file cannot be read. */
export class ProcReadError extends Error {
  /** Constructs a new instance. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ProcReadError";
  }
}

/** The text of `/proc/<path>`, or null when it does not exist. */
async function readProc(path: string): Promise<string | null> {
  const out = await new Deno.Command("cat", {
    args: [`/proc/${path}`],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).output();
  return out.success ? decoder.decode(out.stdout) : null;
}

/** The resident set size of `pid` in KiB (VmRSS in /proc/<pid>/status). */
export async function rssKib(pid: number): Promise<number> {
  const status = await readProc(`${pid}/status`);
  const match = status === null ? null : /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  if (!match) {
    throw new ProcReadError(`Cannot read VmRSS of process ${pid}: no /proc/${pid}/status`);
  }
  return Number(match[1]);
}

/** User plus system CPU seconds `pid` has used, all threads included. */
export async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readProc(`${pid}/stat`);
  if (stat === null) {
    throw new ProcReadError(`Cannot read CPU time of process ${pid}: no /proc/${pid}/stat`);
  }
  // The command name may hold spaces; the fields after it are fixed: utime is 14th, stime 15th.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

/** Whether process `pid` still exists (and is not a zombie). */
export async function isAlive(pid: number): Promise<boolean> {
  const stat = await readProc(`${pid}/stat`).catch(() => null);
  if (stat === null) return false;
  return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
}

/** CPU use of a broker and of this process over an interval, in cores (1.0 = one core busy). */
export class CpuMeter {
  readonly #pid: number;
  readonly #broker0: number;
  readonly #self0: number;
  readonly #t0: number;

  private constructor(pid: number, broker0: number, self0: number) {
    this.#pid = pid;
    this.#broker0 = broker0;
    this.#self0 = self0;
    this.#t0 = performance.now();
  }

  /** Starts measuring `pid` and this process. */
  static async start(pid: number): Promise<CpuMeter> {
    const [broker0, self0] = await Promise.all([cpuSeconds(pid), cpuSeconds(Deno.pid)]);
    return new CpuMeter(pid, broker0, self0);
  }

  /** Cores used by the broker and by this process since the start. */
  async read(): Promise<{ broker: number; bench: number }> {
    const seconds = (performance.now() - this.#t0) / 1000;
    const [broker, self] = await Promise.all([cpuSeconds(this.#pid), cpuSeconds(Deno.pid)]);
    return { broker: (broker - this.#broker0) / seconds, bench: (self - this.#self0) / seconds };
  }
}
