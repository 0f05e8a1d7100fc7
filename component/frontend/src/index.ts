// genviz's Streamlit component (its host: streamlit.ts). Grid mode: decodes the latents Python sends with the decoder it sends, draws them, and reports
// {ok, n, ms} (and the decoded pixels when asked) or {ok: false, error} so the page can fall back.
import { drawGrid } from "./canvas";
import { Decoder } from "./decoder";
import { renderPad } from "./draw";
import { renderGrid } from "./grids";
import { renderSliders } from "./live";
import { renderMap } from "./map";
import { setHeight, setValue, useHost, type RenderArgs } from "./host";
import { listen, streamlitHost } from "./streamlit";

const canvas = document.getElementById("grid") as HTMLCanvasElement;
let decoderId: string | null = null;
let decoder: Promise<Decoder> | null = null;
let lastInputs = "";
let queue: Promise<void> = Promise.resolve();

function base64(bytes: Uint8Array): string {
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(text);
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

async function render(args: RenderArgs): Promise<void> {
  const id = String(args.decoder_id);
  const model = args.decoder as Uint8Array;
  const raw = args.latents as Uint8Array;
  const [n, d] = args.latent_shape as [number, number];
  const columns = Number(args.columns);
  const scale = Number(args.scale);
  const report = Boolean(args.report_pixels);
  // A rerun sends the same arguments again (our own value reruns the script): decode and report once.
  const inputs = [id, base64(raw), n, d, columns, scale, report].join("|");
  if (inputs === lastInputs) return;
  lastInputs = inputs;
  try {
    if (id !== decoderId || decoder === null) {
      decoderId = id;
      decoder = Decoder.load(model.slice());
    }
    const runtime = await decoder;
    // Copy: a Uint8Array argument need not be 4-byte aligned.
    const latents = new Float32Array(raw.slice().buffer, 0, n * d);
    const start = performance.now();
    const out = await runtime.decode(latents, n, d);
    const ms = performance.now() - start;
    drawGrid(canvas, out.data, out.dims, columns, scale);
    setHeight(canvas.height + 4);
    const value: Record<string, unknown> = { ok: true, n, dims: out.dims, ms };
    if (report) value.pixels = base64(new Uint8Array(out.data.buffer, out.data.byteOffset, out.data.byteLength));
    setValue("grid", value);
  } catch (error) {
    decoder = null;
    decoderId = null;
    canvas.width = canvas.height = 0;
    setHeight(0);
    setValue("grid", { ok: false, error: message(error) });
  }
}

// "grid" (the default): decode a batch and draw it; "sliders": the live latent sliders (live.ts); "prior" and
// "path": the Sample and Interpolate pages' live grids (grids.ts); "map": the Latent map page's map (map.ts); "pad":
// a drawing pad (draw.ts).
useHost(streamlitHost);
listen((args) => {
  if (args.mode === "sliders") renderSliders(args);
  else if (args.mode === "prior" || args.mode === "path") renderGrid(args);
  else if (args.mode === "map") renderMap(args);
  else if (args.mode === "pad") renderPad(args);
  else queue = queue.then(() => render(args));
});
