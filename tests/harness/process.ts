/**
 * A child process whose stderr is read line by line, so a test can wait for a log line and the
 * child never blocks on a full pipe.
 *
 * @module
 */

/** A spawned child with its stderr lines. */
export interface WatchedProcess {
  child: Deno.ChildProcess;
  /** Every stderr line so far. */
  lines: string[];
  /** Resolves with the first line (past or future) that `test` accepts, or rejects after `timeoutMs`. */
  waitForLine(test: (line: string) => boolean, what: string, timeoutMs?: number): Promise<string>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the child has exited. */
  stop(graceMs?: number): Promise<Deno.CommandStatus>;
}

/** Spawns `command` with `args`, reading its stderr (and discarding stdout). */
export function spawnWatched(
  command: string,
  args: string[],
  env?: Record<string, string>,
): WatchedProcess {
  const child = new Deno.Command(command, {
    args,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
    ...(env ? { env } : {}),
  }).spawn();
  const lines: string[] = [];
  const waiters = new Set<{ test: (line: string) => boolean; resolve: (line: string) => void }>();
  const pump = (async () => {
    let rest = "";
    for await (const text of child.stderr.pipeThrough(new TextDecoderStream())) {
      const parts = (rest + text).split("\n");
      rest = parts.pop() ?? "";
      for (const line of parts) {
        lines.push(line);
        for (const w of waiters) {
          if (w.test(line)) {
            waiters.delete(w);
            w.resolve(line);
          }
        }
      }
    }
  })();
  const status = child.status;
  return {
    child,
    lines,
    waitForLine(test, what, timeoutMs = 10_000) {
      const seen = lines.find(test);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const waiter = {
          test,
          resolve: (line: string) => {
            clearTimeout(timer);
            resolve(line);
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(
            new Error(
              `Timed out after ${timeoutMs} ms waiting for ${what}; stderr was:\n${
                lines.slice(-20).join("\n")
              }`,
            ),
          );
        }, timeoutMs);
        waiters.add(waiter);
        status.then(() => {
          if (!waiters.has(waiter)) return;
          waiters.delete(waiter);
          clearTimeout(timer);
          reject(
            new Error(
              `Process exited while waiting for ${what}; stderr was:\n${
                lines.slice(-20).join("\n")
              }`,
            ),
          );
        });
      });
    },
    async stop(graceMs = 5_000) {
      try {
        child.kill("SIGTERM");
      } catch {
        // already exited
      }
      const timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch {
          // already exited
        }
      }, graceMs);
      const result = await status;
      clearTimeout(timer);
      await pump.catch(() => {});
      return result;
    },
  };
}
