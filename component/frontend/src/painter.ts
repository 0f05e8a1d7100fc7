// One decoder session and the decode-and-draw loop every live mode shares. At most one decode runs; while it
// does, only the newest request waits (older ones are dropped), so the picture follows the hand however slow
// the decoder. Each input event and each painted frame is a User Timing mark, which the benchmark reads:
// "genviz:input" at the event's own timestamp, "genviz:paint" once the frame that shows it has been painted,
// with the timestamp of the newest input it shows as its detail.
import { Decoder, type Decoded } from "./decoder";
import { setValue, type ViewName } from "./host";
import { load, save } from "./store";

const MAX_MARKS = 10_000; // cleared beyond this, so that a long session does not keep every mark

export interface Job {
  latents: Float32Array; // (n, d) row-major
  n: number;
  d: number;
  draw: (out: Decoded, ms: number) => void; // throws to report a failure (e.g. a wrong output shape)
  since?: number; // the input event it answers (performance.now() time base), if any
}

/** A decoder still waiting for its bytes when another one was asked for. */
class Superseded extends Error {}

let marks = 0;

function mark(name: string, startTime: number, detail?: unknown): void {
  if ((marks += 1) > MAX_MARKS) {
    performance.clearMarks("genviz:input");
    performance.clearMarks("genviz:paint");
    marks = 1;
  }
  performance.mark(name, { startTime, detail });
}

/** Mark an input event (its timestamp) that will be drawn. */
export function markInput(since: number): void {
  mark("genviz:input", since);
}

/** Mark the paint of what answers the input at `since` (a frame drawn without a decode, e.g. a thumbnail), once
 * the frame that shows it has been painted: the same "genviz:paint" mark a decode's frame gets. */
export function markPainted(since: number): void {
  afterPaint(() => mark("genviz:paint", performance.now(), { input: since }));
}

/** After the frame now being drawn is painted: rAF runs just before the paint, a message posted there after it. */
function afterPaint(then: () => void): void {
  requestAnimationFrame(() => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => then();
    channel.port2.postMessage(null);
  });
}

export function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Say once that a browser is here (Python exports a decoder only then); true when no decoder is named yet. */
let announced = false;
export function announce(view: ViewName, id: string): boolean {
  if (id) return false;
  if (!announced) {
    announced = true;
    setValue(view, { alive: true, webassembly: typeof WebAssembly === "object" });
  }
  return true;
}

/** The decoder whose bytes were last asked of Python: the map's two painters (and a rerun that brings no bytes)
 * wait for one answer rather than asking twice, since each ask is a rerun that sends the megabytes again. */
let asked: string | null = null;

function ask(view: ViewName, id: string): void {
  if (asked === id) return;
  asked = id;
  setValue(view, { need: id });
}

export class Painter {
  private id: string | null = null;
  private decoder: Promise<Decoder> | null = null;
  private running = false;
  private pending: Job | null = null;
  // The store lacked decoder `id`: its bytes were asked for, and this settles the wait for them.
  private supply: { resolve: (bytes: Uint8Array) => void; reject: (error: Error) => void } | null = null;
  failed = false;

  constructor(
    private readonly view: ViewName,
    private readonly onFail: (error: unknown) => void,
  ) {}

  /** Load the decoder `id` (its SHA-256) unless it is the one loaded: from `model` when the host sent its bytes
   * (then kept in the browser's store), else from the store; when the store lacks it too, ask the host for its
   * bytes with {need: id}, and load them when a later render brings them. */
  use(id: string, model: Uint8Array): void {
    const name = `decoder ${id}`;
    if (id === this.id) {
      // Bytes for the decoder loaded or waited for: kept only when they answer the wait (a host that sends them
      // on every render, as a site does, stores them once).
      if (this.supply && model.byteLength) {
        void save(name, model);
        if (asked === id) asked = null;
        this.supply.resolve(model.slice());
        this.supply = null;
      }
      return;
    }
    if (model.byteLength) {
      void save(name, model);
      if (asked === id) asked = null;
    }
    this.supply?.reject(new Superseded());
    this.supply = null;
    this.id = id;
    this.failed = false;
    const bytes = model.byteLength
      ? Promise.resolve(model.slice())
      : load(name).then((stored) =>
          stored?.byteLength
            ? stored
            : new Promise<Uint8Array>((resolve, reject) => {
                this.supply = { resolve, reject };
                ask(this.view, id);
              }),
        );
    const decoder = bytes.then((b) => Decoder.load(b));
    this.decoder = decoder;
    decoder.catch((error) => {
      if (!(error instanceof Superseded)) this.fail(error);
    });
  }

  get decoderId(): string | null {
    return this.id;
  }

  /** Settles once the decoder named last has loaded (resolves) or failed (rejects). */
  async ready(): Promise<void> {
    for (;;) {
      const decoder = this.decoder;
      if (!decoder) throw new Error("no decoder has been named");
      try {
        await decoder;
        if (decoder === this.decoder) return;
      } catch (error) {
        if (decoder === this.decoder || !(error instanceof Superseded)) throw error;
      }
    }
  }

  /** Decode and draw `job` as soon as the decoder is free; a newer request replaces it if it has not started. */
  request(job: Job): void {
    if (this.failed) return;
    if (job.since !== undefined) markInput(job.since);
    this.pending = job;
    void this.pump();
  }

  private fail(error: unknown): void {
    if (this.failed) return;
    this.failed = true;
    this.pending = null;
    this.onFail(error);
  }

  private async pump(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      while (this.pending && this.decoder && !this.failed) {
        const job = this.pending;
        this.pending = null;
        let runtime: Decoder;
        try {
          runtime = await this.decoder;
        } catch (error) {
          if (!(error instanceof Superseded)) throw error;
          this.pending ??= job; // another decoder replaced the one awaited: draw with it
          continue;
        }
        const start = performance.now();
        const out = await runtime.decode(job.latents, job.n, job.d);
        job.draw(out, performance.now() - start);
        if (job.since !== undefined) {
          const since = job.since;
          afterPaint(() => mark("genviz:paint", performance.now(), { input: since }));
        }
      }
    } catch (error) {
      this.fail(error);
    } finally {
      this.running = false;
    }
  }
}
