// The "sliders" mode: the latent sliders of the Latent sliders page, decoded in the browser while the hand drags.
// Python sends the decoder once, the start latent and the controls' specs; the browser reports
// {alive: true} when it first runs without a decoder (so Python exports one only for a real browser),
// {ok: true, controls_id, values, z} once the decoder has drawn and on every `change`, or {ok: false, error}.
import { drawGrid, picturedCanvas } from "./canvas";
import { failIn, fitTo, floats, mount, setValue, type RenderArgs } from "./host";
import { announce, message, Painter } from "./painter";
import { buildControls, compose, formatLatent, type Controls, type SliderSpecs } from "./sliders";

let root: HTMLElement | null = null;
let canvas: HTMLCanvasElement;
let text: HTMLElement;
let panel: HTMLElement;
let row: HTMLCanvasElement;
let rowCaption: HTMLElement;
// The traversal row, decoded in the same batch as z: z with dimension `index` set to each of `values`, or (a latent
// too wide for dimension sliders) z moved each of `values` spreads along principal direction `direction`.
let traversal: { index?: number; direction?: number; values: number[]; caption: string } | null = null;
let reportedOk = "";
let controlsId = "";
let classId = "";
let specs: SliderSpecs | null = null;
let controls: Controls | null = null;
let imageShape: number[] = [1, 28, 28];
let size = 280;
const painter = new Painter("sliders", fail);

function layout(): void {
  if (root) return;
  root = document.createElement("div");
  root.className = "live";
  root.hidden = true;
  const picture = document.createElement("div");
  picture.className = "picture";
  canvas = picturedCanvas("Decoded latent", "live-canvas");
  text = document.createElement("pre");
  text.className = "latent";
  text.setAttribute("aria-label", "Latent");
  picture.append(canvas, text);
  panel = document.createElement("div");
  panel.className = "controls";
  const top = document.createElement("div");
  top.className = "top";
  top.append(picture, panel);
  const figure = document.createElement("figure");
  figure.className = "traversal";
  row = picturedCanvas("Traversal", "live-traversal");
  rowCaption = document.createElement("figcaption");
  figure.append(row, rowCaption);
  root.append(top, figure);
  mount("sliders", root);
}

function fit(): void {
  fitTo(root);
}

function report(ms?: number): void {
  if (!specs || !controls) return;
  const z = compose(specs, controls.values);
  setValue("sliders", { ok: true, controls_id: controlsId, values: Object.fromEntries(controls.values), z: Array.from(z), ms });
}

function fail(error: unknown): void {
  failIn("sliders", root, message(error));
}

/** z and its traversal row, decoded in one batch. */
function redraw(since?: number): void {
  if (!specs || !controls) return;
  const z = compose(specs, controls.values);
  const d = z.length;
  const steps = traversal ? traversal.values.length : 0;
  const batch = new Float32Array((1 + steps) * d);
  for (let i = 0; i <= steps; i++) {
    batch.set(z, i * d);
    if (!i) continue;
    const value = traversal!.values[i - 1];
    const k = traversal!.direction;
    if (k === undefined) batch[i * d + traversal!.index!] = value;
    else {
      const scale = Math.fround(value * specs.directions[k].spread); // as compose() moves along a direction
      for (let j = 0; j < d; j++) batch[i * d + j] += scale * specs.directionVectors[k * d + j];
    }
  }
  const shown = traversal;
  painter.request({
    latents: batch,
    n: 1 + steps,
    d,
    since,
    draw: (out, ms) => {
      const [, c, h, w] = out.dims;
      if (c !== imageShape[0] || h !== imageShape[1] || w !== imageShape[2])
        throw new Error(`the decoder drew images of shape (${c}, ${h}, ${w}), not (${imageShape.join(", ")})`);
      const plane = c * h * w;
      drawGrid(canvas, out.data.subarray(0, plane), [1, c, h, w], 1, Math.max(1, Math.round(size / w)));
      if (shown) {
        drawGrid(row, out.data.subarray(plane), [steps, c, h, w], steps, Math.max(1, Math.floor(96 / w)));
        rowCaption.textContent = shown.caption;
      }
      text.textContent = formatLatent(z);
      fit();
      canvas.dataset.frames = String(Number(canvas.dataset.frames ?? 0) + 1);
      if (reportedOk !== painter.decoderId) {
        reportedOk = painter.decoderId ?? "";
        report(ms);
      }
    },
  });
}

export function renderSliders(args: RenderArgs): void {
  layout();
  const model = args.decoder instanceof Uint8Array ? args.decoder : new Uint8Array(0);
  if (announce("sliders", String(args.decoder_id ?? ""))) return;
  imageShape = (args.image_shape as number[]) ?? imageShape;
  size = Number(args.size ?? 280);
  painter.use(String(args.decoder_id), model);
  if (painter.failed) return;
  const nextControls = String(args.controls_id);
  const nextClass = String(args.class_id ?? "");
  const nextTraversal = (args.traversal as typeof traversal) ?? null;
  const traversalChanged = JSON.stringify(nextTraversal) !== JSON.stringify(traversal);
  traversal = nextTraversal;
  if (nextControls !== controlsId) {
    controlsId = nextControls;
    classId = nextClass;
    specs = {
      base: floats(args.base),
      dims: (args.dims as SliderSpecs["dims"]) ?? [],
      directions: (args.directions as SliderSpecs["directions"]) ?? [],
      directionVectors: floats(args.direction_vectors),
      classSpec: (args.class_spec as SliderSpecs["classSpec"]) ?? null,
      classVector: args.class_spec ? floats(args.class_vector) : null,
    };
    controls = buildControls(panel, specs, redraw, () => report());
    redraw();
  } else if ((nextClass !== classId || traversalChanged) && specs) {
    classId = nextClass;
    specs.classVector = specs.classSpec ? floats(args.class_vector) : null;
    redraw();
  }
  root!.hidden = !args.show;
  fit();
}
