// The "prior" and "path" modes: a grid of decodes whose latents the browser computes from controls it draws.
// "prior" (the Sample page): Python sends the prior's noise for a seed, the centre and spread; the temperature or
// truncation control recomputes every latent (prior.ts). "path" (the Interpolate page): Python sends the 2 or 4
// endpoints; the path and step-count controls recompute the strip or grid (paths.ts). Every input event decodes
// and draws; Python hears {ok: true, controls_id, values} once the first grid is drawn and on every `change`,
// {alive: true} before it has sent a decoder, or {ok: false, error}.
import { drawGrid, picturedCanvas } from "./canvas";
import { choiceControl, rangeControl, type ChoiceSpec, type ControlSpec } from "./controls";
import { failIn, fitTo, floats, mount, setValue, type RenderArgs } from "./host";
import { announce, message, Painter } from "./painter";
import { interpolate, interpolateGrid, type Method } from "./paths";
import { priorLatents, type PriorControl } from "./prior";

interface Grid {
  latents: Float32Array;
  n: number;
  columns: number;
  width: number; // the grid's width at most, in CSS pixels
  caption: string;
}

let root: HTMLElement | null = null;
let panel: HTMLElement;
let canvas: HTMLCanvasElement;
let caption: HTMLElement;
let controlsId = "";
let reportedOk = "";
let args: RenderArgs = {};
const values = new Map<string, number | string>();
const painter = new Painter("grids", fail);

function layout(): void {
  if (root) return;
  root = document.createElement("div");
  root.className = "live grids";
  root.hidden = true;
  panel = document.createElement("div");
  panel.className = "controls";
  const figure = document.createElement("figure");
  canvas = picturedCanvas("Decoded images", "live-grid");
  caption = document.createElement("figcaption");
  figure.append(canvas, caption);
  root.append(panel, figure);
  mount("grids", root);
}

function fit(): void {
  fitTo(root);
}

function fail(error: unknown): void {
  failIn("grids", root, message(error));
}

function report(): void {
  setValue("grids", { ok: true, controls_id: controlsId, values: Object.fromEntries(values) });
}

/** The latents the controls set now, and how to show them. */
function current(): Grid {
  const centre = floats(args.centre);
  if (args.mode === "prior") {
    const spec = args.control as ControlSpec & { kind: PriorControl };
    const value = Number(values.get(spec.key));
    const latents = priorLatents(floats(args.noise), centre, floats(args.spread), spec.kind, value);
    const text = String(args.caption).replace("{value}", String(value));
    const columns = Number(args.columns);
    return { latents, n: latents.length / centre.length, columns, width: Number(args.width), caption: text };
  }
  const method = String(values.get("method")) as Method;
  const steps = Number(values.get("steps"));
  const ends = floats(args.ends);
  const four = ends.length === 4 * centre.length;
  const latents = four
    ? interpolateGrid(ends, steps, steps, method, centre)
    : interpolate(ends.subarray(0, centre.length), ends.subarray(centre.length), steps, method, centre);
  const shape = four ? `${steps} x ${steps} grid` : `strip of ${steps}`;
  // A long strip wraps into rows of at most 8, as the server's does (ui.strip_row): 32 steps are 4 rows of 8.
  const columns = four ? steps : Math.ceil(steps / Math.ceil(steps / 8));
  const width = Number(args.width) * columns; // args.width: one picture's
  return { latents, n: four ? steps * steps : steps, columns, width, caption: `${method} ${shape}` };
}

function redraw(since?: number): void {
  const grid = current();
  const shape = args.image_shape as number[];
  const d = grid.latents.length / grid.n;
  painter.request({
    latents: grid.latents,
    n: grid.n,
    d,
    since,
    draw: (out) => {
      const [, c, h, w] = out.dims;
      if (c !== shape[0] || h !== shape[1] || w !== shape[2])
        throw new Error(`the decoder drew images of shape (${c}, ${h}, ${w}), not (${shape.join(", ")})`);
      // Drawn with whole pixels per pixel, at least `width` wide, then shown `width` CSS pixels wide at most
      // (never wider than the page): crisp pixels at any size.
      const scale = Math.max(1, Math.ceil(grid.width / (grid.columns * w)));
      drawGrid(canvas, out.data, out.dims, grid.columns, scale);
      canvas.style.width = `${Math.min(grid.width, canvas.width)}px`;
      caption.textContent = grid.caption;
      fit();
      canvas.dataset.frames = String(Number(canvas.dataset.frames ?? 0) + 1);
      if (reportedOk !== controlsId) {
        reportedOk = controlsId;
        report();
      }
    },
  });
}

function build(): void {
  panel.replaceChildren();
  values.clear();
  const onInput = (key: string, value: number | string, since: number) => {
    values.set(key, value);
    redraw(since);
  };
  if (args.mode === "prior") {
    const spec = args.control as ControlSpec;
    values.set(spec.key, spec.value);
    rangeControl(panel, spec, onInput, report);
  } else {
    const method = args.method as ChoiceSpec;
    const steps = args.steps as ControlSpec;
    values.set("method", method.value);
    values.set("steps", steps.value);
    choiceControl(panel, { ...method, key: "method" }, onInput, report);
    rangeControl(panel, { ...steps, key: "steps" }, onInput, report);
  }
}

export function renderGrid(next: RenderArgs): void {
  layout();
  const model = next.decoder instanceof Uint8Array ? next.decoder : new Uint8Array(0);
  if (announce("grids", String(next.decoder_id ?? ""))) return;
  painter.use(String(next.decoder_id), model);
  if (painter.failed) return;
  args = next;
  if (String(next.controls_id) !== controlsId) {
    controlsId = String(next.controls_id);
    build();
    redraw();
  }
  root!.hidden = !next.show;
  fit();
}
