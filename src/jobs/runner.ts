/**
 * Runs builtin jobs (core.tb_job) with handlers registered in code: `observers.jobs.register(task,
 * handler, options)` (docs/jobs.md). Each claim leases jobs to this runner: a task's free slots,
 * plus a prefetch while its handlers end fast, buffered until a slot frees (released at shutdown,
 * or when still unstarted a heartbeat later). Leases are extended every third of their length
 * while a job runs or waits, so jobs may run for hours, and a crashed process's jobs come due again
 * when their leases run out. Each claim statement has a lease of its own (`<owner>/<uuid>`, shared
 * by the jobs it claims), and renewals and writes match (pk, lease) pairs: a job cancelled then
 * retried and claimed again by this very process is a new claim, so the cancelled run's renewal
 * fails. A job cancelled through the API, or whose lease was lost, has its handler's signal aborted
 * (a buffered one is dropped) at the next renewal. Handlers get an
 * `AbortSignal` that also fires at their timeout and at shutdown; a failure is retried with the
 * observers' backoff, and the last one marks the job failed with its error. Wake-ups
 * (doorbell.ts): this process's enqueues wake it in process, other processes' rings arrive by
 * LISTEN on `JOBS_NOTIFY_CHANNEL` where the driver can, and polling always; jobs it gives back
 * (released, recovered) ring the doorbell for the other processes.
 */
import * as v from "valibot";
import { computeBackoff } from "../executor/backoff.ts";
import { type RetryConfig, retryConfigSchema } from "../executor/retry-policy.ts";
import type { JsonValue } from "../json.ts";
import { redactUrls } from "../net/redact.ts";
import type { Clock } from "../ports/clock.ts";
import type { Logger } from "../ports/logger.ts";
import type { SqlClient } from "../ports/sql.ts";
import { startWakeups, type Wakeups } from "../runtime/wakeups.ts";
import {
  announceWorker,
  type ClaimedJob,
  claimJobs,
  claimKey,
  finishJob,
  finishSucceededJobs,
  type JobAttemptResult,
  type JobClaim,
  recoverLostJobs,
  releaseJobs,
  removeWorker,
  renewJobLeases,
} from "../store/job-leases.ts";
import { createJobDoorbell, JOBS_NOTIFY_CHANNEL, type JobDoorbell } from "./doorbell.ts";
import { jobAttemptEnded } from "./metrics.ts";

/** What a handler is told besides the payload. */
export interface JobContext {
  jobId: string;
  task: string;
  /** 1-based. */
  attempt: number;
  maxAttempts: number;
  /** The observer's tenant whose action enqueued the job, or null (a global observer). */
  tenant: string | null;
  /** What enqueued the job: the change event's id, the observer, the delivery. */
  event: { id: string | null; observerId: string | null; deliveryId: string | null };
  /**
   * Aborted at the handler's `timeoutMs`, at shutdown (the job goes back to pending, the attempt
   * not counted), and when the job is cancelled or its lease lost. Pass it to every I/O call.
   */
  signal: AbortSignal;
}

/** Runs one job; throwing (or rejecting) fails the attempt. */
export type JobHandler = (payload: JsonValue, context: JobContext) => unknown;

/** Options of `register`. */
export interface JobHandlerOptions {
  /** Jobs of this task run at once in this process, at most (default 10). */
  concurrency?: number;
  /** Each attempt's limit in ms (default none: jobs may run for hours, heartbeats keep them). */
  timeoutMs?: number;
  /**
   * Attempts and backoff, as an observer's `retry_config` (default: 5 attempts, exponential from
   * 500 ms to 30 s). A job's own `max_attempts` (the action's) wins over `max_attempts` here.
   */
  retry?: Partial<RetryConfig>;
}

/** The `jobs` object of `createObservers`: registers the handlers this process runs. */
export interface Jobs {
  /**
   * Runs jobs of `task` with `handler` in this process, from `start()` (or at once if started).
   * Throws on a task registered twice or invalid options.
   */
  register(task: string, handler: JobHandler, options?: JobHandlerOptions): void;
  /** The tasks registered in this process. */
  tasks(): string[];
}

/** The runner behind `Jobs`, driven by the factory. */
export interface JobRunner extends Jobs {
  start(): Promise<void>;
  /** Stops claiming, waits up to `timeoutMs` for running handlers, then aborts and releases them. */
  stop(timeoutMs: number): Promise<void>;
  /** Looks for due jobs now. */
  wake(): void;
  /** Handlers running now. */
  readonly running: number;
}

/** Options of `createJobRunner`. */
export interface JobRunnerOptions {
  sql: SqlClient;
  clock: Clock;
  logger: Logger;
  /** This process's lease owner and worker name (unique). */
  owner: string;
  leaseMs: number;
  pollIntervalMs: number;
  /** Jitter for the backoff (default Math.random). */
  random?: () => number;
  /**
   * The process's doorbell, shared with its builtin queue (doorbell.ts): its rings wake this
   * runner in process. Default one of its own over `sql`.
   */
  doorbell?: JobDoorbell;
}

interface Registration {
  handler: JobHandler;
  concurrency: number;
  timeoutMs: number | null;
  retry: RetryConfig;
  /** Handlers running now. */
  running: number;
  /** Claimed (leased) jobs waiting for a free slot, oldest first, with when they were claimed. */
  buffer: { job: ClaimedJob; since: number }[];
  /** Handlers ended so far, and at the last claim, with its time and round trip. */
  ended: number;
  lastClaim: { at: number; ended: number; roundTripMs: number } | null;
}

interface Running {
  job: ClaimedJob;
  controller: AbortController;
  /** Why it was aborted, once it was. */
  abortedBy: "timeout" | "shutdown" | "lost" | null;
  done: Promise<void>;
}

/** A task's buffer holds up to this many jobs (or its concurrency, if higher). */
const MAX_PREFETCH = 100;

const positiveInteger = (what: string) =>
  v.optional(
    v.pipe(
      v.number(),
      v.safeInteger(`${what} must be an integer`),
      v.minValue(1, `${what} must be at least 1`),
    ),
  );
const optionsSchema = v.strictObject({
  concurrency: positiveInteger("concurrency"),
  timeoutMs: positiveInteger("timeoutMs"),
  retry: v.optional(v.unknown()),
});

/** Creates the runner; see the file comment. */
export function createJobRunner(options: JobRunnerOptions): JobRunner {
  const { sql, clock, logger, owner, leaseMs } = options;
  const random = options.random ?? Math.random;
  const doorbell = options.doorbell ?? createJobDoorbell({ sql, logger });
  doorbell.onRing(() => wake());
  const tasks = new Map<string, Registration>();
  const running = new Map<string, Running>();
  let started = false;
  let stopping = false;
  /** Started with the first task (a process without tasks opens no LISTEN connection for jobs). */
  let wakeups: Promise<Wakeups | null> | null = null;
  let heartbeat: unknown = null;
  let claiming: Promise<void> | null = null;
  let claimAgain = false;
  /** Successes waiting to be written, in one statement per flush (one flush at a time). */
  let succeeded: { claim: JobClaim; written: () => void }[] = [];
  let flushing: Promise<void> | null = null;

  const warn = (message: string, error: unknown) =>
    logger.log("warn", message, { error: error instanceof Error ? error.message : String(error) });

  function register(task: string, handler: JobHandler, handlerOptions: JobHandlerOptions = {}) {
    if (typeof task !== "string" || task === "")
      throw new TypeError("task must be a non-empty string");
    if (typeof handler !== "function") throw new TypeError("handler must be a function");
    if (tasks.has(task)) throw new Error(`task ${task} is already registered`);
    if (stopping) throw new Error("these jobs were stopped");
    const parsed = v.parse(optionsSchema, handlerOptions);
    tasks.set(task, {
      handler,
      concurrency: parsed.concurrency ?? 10,
      timeoutMs: parsed.timeoutMs ?? null,
      retry: v.parse(retryConfigSchema, handlerOptions.retry ?? {}),
      running: 0,
      buffer: [],
      ended: 0,
      lastClaim: null,
    });
    if (started) {
      void announce().then(recover);
      listen();
      wake();
    }
  }

  function listen(): void {
    if (wakeups || tasks.size === 0) return;
    wakeups = startWakeups({
      sql,
      clock,
      logger,
      pollIntervalMs: options.pollIntervalMs,
      wake,
      channel: JOBS_NOTIFY_CHANNEL,
      // This process's own rings woke it already.
      ignorePayload: doorbell.id,
    }).catch((error: unknown) => {
      warn("jobs: starting the wake-ups failed; jobs are claimed at the heartbeat only", error);
      return null;
    });
  }

  function announce(): Promise<void> {
    if (tasks.size === 0) return Promise.resolve();
    // Live a little longer than a lease: a renewal may come late under load.
    return announceWorker(sql, owner, [...tasks.keys()], leaseMs * 2).catch((error: unknown) =>
      warn("jobs: announcing the registered tasks failed", error),
    );
  }

  function wake(): void {
    if (!started || stopping) return;
    if (claiming) {
      claimAgain = true;
      return;
    }
    // On the next turn: jobs finishing together (one batch written) free their slots first, and
    // one claim takes them all.
    claiming = new Promise<void>((resolve) => clock.setTimeout(resolve, 0))
      .then(claimLoop)
      .catch((error: unknown) => warn("jobs: claiming failed", error))
      .finally(() => {
        claiming = null;
        if (claimAgain) wake();
      });
  }

  /**
   * Claims each task's free slots plus its prefetch in one statement, so that handlers ending
   * start buffered jobs at once while the next claim is on its way (and writes go meanwhile).
   */
  async function claimLoop(): Promise<void> {
    do {
      claimAgain = false;
      for (const [task, registration] of tasks) {
        if (stopping) return;
        const at = clock.now();
        const wanted =
          registration.concurrency -
          registration.running +
          prefetchFor(registration, at) -
          registration.buffer.length;
        if (wanted <= 0) continue;
        const claimed = await claimJobs(sql, owner, task, wanted, leaseMs);
        const since = clock.now();
        registration.lastClaim = { at, ended: registration.ended, roundTripMs: since - at };
        if (stopping) {
          await release(claimed);
          return;
        }
        for (const job of claimed) registration.buffer.push({ job, since });
        fill(registration);
        if (claimed.length === wanted) claimAgain = true;
      }
    } while (claimAgain && !stopping);
  }

  /**
   * Jobs worth holding beyond the free slots: as many as this task's handlers end during one
   * claim's round trip, at the rate they ended since the last claim, up to MAX_PREFETCH (or the
   * concurrency, if higher). No-op or millisecond handlers get a full buffer; handlers that run
   * seconds or hours get none, so a process does not sit on jobs another one could start.
   */
  function prefetchFor(registration: Registration, now: number): number {
    const last = registration.lastClaim;
    if (last === null) return 0;
    const ratePerMs = (registration.ended - last.ended) / Math.max(1, now - last.at);
    return Math.min(
      Math.max(registration.concurrency, MAX_PREFETCH),
      Math.round(ratePerMs * Math.max(1, last.roundTripMs)),
    );
  }

  /** Starts buffered jobs in the task's free slots. */
  function fill(registration: Registration): void {
    while (!stopping && registration.running < registration.concurrency) {
      const buffered = registration.buffer.shift();
      if (buffered === undefined) return;
      start(buffered.job, registration);
    }
  }

  /** Removes the buffered jobs `which` selects (all by default) from the buffers. */
  function takeBuffered(
    which: (buffered: Registration["buffer"][number]) => boolean = () => true,
  ): ClaimedJob[] {
    const taken: ClaimedJob[] = [];
    for (const registration of tasks.values()) {
      registration.buffer = registration.buffer.filter((buffered) => {
        if (!which(buffered)) return true;
        taken.push(buffered.job);
        return false;
      });
    }
    return taken;
  }

  /**
   * Gives claimed jobs that never started back to the queue, their attempt not counted, and rings
   * for another process to take them.
   */
  async function release(jobs: readonly ClaimedJob[]): Promise<void> {
    if (jobs.length === 0) return;
    await releaseJobs(sql, jobs).then(
      () => doorbell.ring(),
      (error: unknown) =>
        warn(
          `jobs: releasing ${jobs.length} unstarted job(s) failed; they run again once their leases run out`,
          error,
        ),
    );
  }

  function start(job: ClaimedJob, registration: Registration): void {
    const controller = new AbortController();
    const entry: Running = { job, controller, abortedBy: null, done: Promise.resolve() };
    registration.running++;
    // Keyed by claim: a job cancelled and retried may be claimed again while its first run winds down.
    const key = claimKey(job);
    running.set(key, entry);
    // The slot is free once the handler has settled; the entry (its lease renewed) stays until
    // the attempt is written.
    const ended = () => {
      registration.running--;
      registration.ended++;
      fill(registration);
      wake();
    };
    entry.done = execute(entry, registration, ended).finally(() => running.delete(key));
  }

  function abort(entry: Running, cause: "timeout" | "shutdown" | "lost", reason: unknown): void {
    if (entry.abortedBy !== null) return;
    entry.abortedBy = cause;
    entry.controller.abort(reason);
  }

  async function execute(
    entry: Running,
    registration: Registration,
    ended: () => void,
  ): Promise<void> {
    const { job, controller } = entry;
    const maxAttempts = job.maxAttempts ?? registration.retry.max_attempts;
    const context: JobContext = {
      jobId: job.id,
      task: job.task,
      attempt: job.attempt,
      maxAttempts,
      tenant: job.tenant,
      event: { id: job.eventId, observerId: job.observerId, deliveryId: job.deliveryId },
      signal: controller.signal,
    };
    const timer =
      registration.timeoutMs === null
        ? null
        : clock.setTimeout(
            () =>
              abort(
                entry,
                "timeout",
                new DOMException(`timed out after ${registration.timeoutMs} ms`, "TimeoutError"),
              ),
            registration.timeoutMs,
          );
    // Settles at the abort even if the handler ignores its signal, so its slot is not held forever.
    const aborted = new Promise<never>((_, reject) => {
      controller.signal.addEventListener("abort", () => reject(controller.signal.reason), {
        once: true,
      });
    });
    let result: JobAttemptResult;
    const startedAt = clock.now();
    try {
      await Promise.race([
        new Promise((resolve) => resolve(registration.handler(job.payload, context))),
        aborted,
      ]);
      result = { kind: "succeeded" };
    } catch (error) {
      if (entry.abortedBy === "lost") return;
      if (entry.abortedBy === "shutdown") {
        result = { kind: "released" };
      } else {
        // As for actions' errors, URLs keep only their origin: the rest may be a credential.
        const message = redactUrls(
          error instanceof Error ? `${error.name}: ${error.message}` : String(error),
        );
        result = {
          kind: "failed",
          error: message,
          retryInMs:
            job.attempt >= maxAttempts
              ? null
              : computeBackoff(job.attempt, registration.retry, random),
        };
      }
    } finally {
      if (timer !== null) clock.clearTimeout(timer);
      ended();
    }
    if (result.kind !== "released") {
      const end =
        result.kind === "succeeded"
          ? "succeeded"
          : result.retryInMs === null
            ? "failed"
            : "retried";
      jobAttemptEnded(end, clock.now() - startedAt);
    }
    // A job cancelled (or lost) meanwhile is not ours to write: finishJob checks the lease.
    if (result.kind === "succeeded") return succeed(job);
    if (result.kind === "failed" && result.retryInMs === null) {
      // Its last attempt: nothing runs it again until someone retries it through the API.
      logger.log("error", "job failed", {
        job_id: job.id,
        task: job.task,
        attempts: job.attempt,
        error: result.error,
      });
    }
    await finishJob(sql, job, result).then(
      // Released at shutdown: due now, for another process.
      () => (result.kind === "released" ? doorbell.ring() : undefined),
      (error: unknown) =>
        warn(
          `jobs: recording job ${job.id} failed; its lease will run out and it will run again`,
          error,
        ),
    );
  }

  /** Resolves once the success is written (or failed to be: the lease then runs out). */
  function succeed(job: ClaimedJob): Promise<void> {
    return new Promise<void>((written) => {
      succeeded.push({ claim: { pk: job.pk, lease: job.lease }, written });
      // Handlers that finish in the same turn share one statement.
      if (succeeded.length === 1 && !flushing) clock.setTimeout(flush, 0);
    });
  }

  function flush(): void {
    if (flushing || succeeded.length === 0) return;
    const batch = succeeded;
    succeeded = [];
    flushing = finishSucceededJobs(
      sql,
      batch.map((item) => item.claim),
    )
      .catch((error: unknown) =>
        warn(
          `jobs: recording ${batch.length} finished job(s) failed; their leases will run out and they will run again`,
          error,
        ),
      )
      .finally(() => {
        flushing = null;
        for (const item of batch) item.written();
        flush();
      });
  }

  /** Jobs of lost processes: back to pending (or failed on their last attempt), then claimable. */
  async function recover(): Promise<void> {
    let recovered = false;
    for (const [task, registration] of tasks) {
      await recoverLostJobs(sql, task, registration.retry.max_attempts).then(
        (n) => {
          if (n > 0) recovered = true;
        },
        (error: unknown) => warn("jobs: recovering jobs of lost processes failed", error),
      );
    }
    // Due now: here (the ring wakes this runner) and in other processes with these tasks.
    if (recovered) doorbell.ring();
  }

  function beat(): void {
    heartbeat = clock.setTimeout(
      () => {
        void renew().finally(() => {
          if (started) beat();
        });
      },
      Math.max(1, Math.floor(leaseMs / 3)),
    );
  }

  async function renew(): Promise<void> {
    await announce();
    await recover();
    if (tasks.size > 0) wake();
    // Jobs buffered since the last heartbeat or before wait for handlers slower than the buffer
    // was sized for: they go back to the queue, for any process to start.
    const stale = clock.now() - Math.floor(leaseMs / 3);
    const old = takeBuffered((buffered) => buffered.since <= stale);
    if (old.length > 0) await release(old);
    const held = [...running.values()].filter((entry) => entry.abortedBy === null);
    const buffered = [...tasks.values()].flatMap((registration) => registration.buffer);
    if (held.length === 0 && buffered.length === 0) return;
    try {
      const renewed = await renewJobLeases(
        sql,
        [...held.map((entry) => entry.job), ...buffered.map(({ job }) => job)],
        leaseMs,
      );
      // A buffered job cancelled (or lost) meanwhile is dropped before it starts.
      const gone = new Set(buffered.filter(({ job }) => !renewed.has(claimKey(job))));
      takeBuffered((entry) => gone.has(entry));
      for (const entry of held) {
        if (!renewed.has(claimKey(entry.job))) {
          abort(
            entry,
            "lost",
            new DOMException("the job was cancelled or its lease lost", "AbortError"),
          );
        }
      }
    } catch (error) {
      warn("jobs: renewing leases failed", error);
    }
  }

  return {
    register,
    tasks: () => [...tasks.keys()],
    wake,
    get running() {
      let handlers = 0;
      for (const registration of tasks.values()) handlers += registration.running;
      return handlers;
    },
    async start() {
      if (started) throw new Error("the job runner was already started");
      started = true;
      await announce();
      await recover();
      listen();
      await wakeups;
      beat();
      wake();
    },
    async stop(timeoutMs) {
      if (stopping) return;
      stopping = true;
      await (await wakeups)
        ?.stop()
        .catch((error: unknown) => warn("jobs: stopping LISTEN failed", error));
      await claiming;
      // Buffered jobs go back at once, for another process to start.
      await release(takeBuffered());
      const all = () => Promise.all([...running.values()].map((entry) => entry.done));
      if ((await within(all(), timeoutMs)) === "timeout") {
        for (const entry of running.values()) {
          abort(entry, "shutdown", new DOMException("the process is shutting down", "AbortError"));
        }
        await within(all(), 5_000);
      }
      const wasStarted = started;
      started = false;
      clock.clearTimeout(heartbeat);
      // Released jobs' rings go out before the host closes the connections.
      await doorbell.idle();
      if (wasStarted && tasks.size > 0) {
        await removeWorker(sql, owner).catch((error: unknown) =>
          warn("jobs: removing this process's tasks failed", error),
        );
      }
    },
  };

  function within(promise: Promise<unknown>, ms: number): Promise<"done" | "timeout"> {
    let timer: unknown = null;
    const timeout = new Promise<"timeout">((resolve) => {
      timer = clock.setTimeout(() => resolve("timeout"), ms);
    });
    return Promise.race([promise.then(() => "done" as const), timeout]).finally(() =>
      clock.clearTimeout(timer),
    );
  }
}
